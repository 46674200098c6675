"""``GET /v1/enterprises/<uscc>?client_id=…&nonce=…``: the registry's record, signed (``X-Registry-Signature`` over
the raw body) and bound to the asking client (``aud``), its nonce and the time of the answer (``iat``)."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from mobileca.core.clock import now
from mobileca.sandboxes import common
from mobileca.sandboxes.registry.models import RegisteredEnterprise


@require_GET
def enterprise(request: HttpRequest, uscc: str) -> HttpResponse:
    record = RegisteredEnterprise.objects.filter(uscc=uscc).first()
    if record is None:
        payload, status = {"uscc": uscc, "found": False}, 404
    else:
        payload, status = (
            {
                "uscc": record.uscc,
                "found": True,
                "name": record.name,
                "status": record.status,
                "legal_representative": record.legal_representative,
                "legal_representative_id": record.legal_representative_id,
                "legal_representative_phone": record.legal_representative_phone,
            },
            200,
        )
    asked = {"aud": request.GET.get("client_id", ""), "nonce": request.GET.get("nonce", "")}
    body = json.dumps(payload | asked | {"iat": int(now().timestamp())}, ensure_ascii=False).encode()
    response = HttpResponse(body, status=status, content_type="application/json")
    response["X-Registry-Signature"] = common.sign(settings.SANDBOX_REGISTRY["private_key_path"], body)
    return response
