"""``POST /v1/checks`` (open), ``/check/<id>`` (the phone's page), ``GET /v1/checks/<id>?client_id=…`` (the
result, signed in ``X-Liveness-Signature`` over the raw body, naming the check, its nonce, the person, the asking
client as ``aud`` and the time of the answer as ``iat``)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from mobileca.core.clock import now
from mobileca.sandboxes import common
from mobileca.sandboxes.liveness.models import LivenessCheck


def _authorised(request: HttpRequest) -> bool:
    secret = Path(settings.SANDBOX_LIVENESS["client_secret_path"]).read_text().strip()
    return secrets.compare_digest(request.headers.get("Authorization", ""), f"Bearer {secret}")


@csrf_exempt
@require_POST
def open_check(request: HttpRequest) -> JsonResponse:
    if not _authorised(request):
        return JsonResponse({"error": "unauthorised"}, status=401)
    try:
        data = json.loads(request.body)
        name, resident_id, nonce, return_url = (
            str(data[key]) for key in ("name", "resident_id", "nonce", "return_url")
        )
    except (KeyError, ValueError):
        return JsonResponse({"error": "bad_request"}, status=400)
    check = LivenessCheck.objects.create(
        check_id=secrets.token_urlsafe(18),
        name=name,
        resident_id=resident_id,
        nonce=nonce,
        return_url=return_url,
        created_at=timezone.now(),
    )
    url = request.build_absolute_uri(reverse("sandbox_liveness:page", args=[check.check_id]))
    return JsonResponse({"check_id": check.check_id, "url": url})


def check_page(request: HttpRequest, check_id: str) -> HttpResponse:
    """The tester plays the face: 「通过」 or 「不通过」; the phone then returns to the service."""
    check = get_object_or_404(LivenessCheck, check_id=check_id)
    if request.method == "POST" and check.outcome == "pending":
        check.outcome = "passed" if request.POST.get("action") == "pass" else "failed"
        check.finished_at = timezone.now()
        check.save(update_fields=["outcome", "finished_at"])
        return redirect(f"{check.return_url}?{urlencode({'check_id': check.check_id})}")
    return render(request, "sandbox_liveness/check.html", {"check": check})


def result(request: HttpRequest, check_id: str) -> HttpResponse:
    if not _authorised(request):
        return JsonResponse({"error": "unauthorised"}, status=401)
    check = get_object_or_404(LivenessCheck, check_id=check_id)
    body = json.dumps(
        {
            "check_id": check.check_id,
            "nonce": check.nonce,
            "outcome": check.outcome,
            "name": check.name,
            "resident_id": check.resident_id,
            "aud": request.GET.get("client_id", ""),  # the relying party that asks, as it names itself
            "iat": int(now().timestamp()),
        },
        ensure_ascii=False,
    ).encode()
    response = HttpResponse(body, content_type="application/json")
    response["X-Liveness-Signature"] = common.sign(settings.SANDBOX_LIVENESS["private_key_path"], body)
    return response
