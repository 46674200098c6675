"""``authorize`` (the phone's login page) and ``token`` (the server-to-server exchange of the code)."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from mobileca.core.clock import now
from mobileca.sandboxes import common
from mobileca.sandboxes.identity.models import AuthCode, TestPerson


def _config() -> dict[str, str]:
    config: dict[str, str] = settings.SANDBOX_IDENTITY
    return config


def authorize(request: HttpRequest) -> HttpResponse:
    """The Alipay login on the phone: pick a test person (or add one); the browser returns with a one-time code."""
    client_id, redirect_uri = request.GET.get("client_id", ""), request.GET.get("redirect_uri", "")
    state, nonce = request.GET.get("state", ""), request.GET.get("nonce", "")
    if client_id != _config()["client_id"] or not redirect_uri.startswith(("http://", "https://")):
        return HttpResponseBadRequest("支付宝沙箱：无效的 client_id 或 redirect_uri")
    error = ""
    if request.method == "POST":
        if request.POST.get("action") == "add":
            name, resident_id, phone = (request.POST.get(key, "").strip() for key in ("name", "resident_id", "phone"))
            if not (name and len(resident_id) == 18 and phone.isdigit() and len(phone) == 11):
                error = "请填写姓名、18 位身份证号和 11 位手机号"
            else:
                TestPerson.objects.create(
                    user_id="2088" + "".join(secrets.choice("0123456789") for _ in range(12)),
                    name=name,
                    resident_id=resident_id.upper(),
                    phone=phone,
                )
        else:
            person = TestPerson.objects.filter(user_id=request.POST.get("user_id", "")).first()
            if person is not None:
                code = AuthCode.objects.create(
                    code=secrets.token_urlsafe(24),
                    person=person,
                    client_id=client_id,
                    redirect_uri=redirect_uri,
                    nonce=nonce,
                    expires_at=timezone.now() + timedelta(minutes=5),
                )
                return redirect(f"{redirect_uri}?{urlencode({'auth_code': code.code, 'state': state})}")
    return render(
        request, "sandbox_identity/authorize.html", {"people": TestPerson.objects.order_by("pk"), "error": error}
    )


@csrf_exempt
@require_POST
def token(request: HttpRequest) -> JsonResponse:
    """Exchange a code (once, within five minutes) for the person's identity, signed with the provider's key."""
    secret = Path(_config()["client_secret_path"]).read_text().strip()
    if request.POST.get("client_id") != _config()["client_id"] or not secrets.compare_digest(
        request.POST.get("client_secret", ""), secret
    ):
        return JsonResponse({"error": "invalid_client"}, status=401)
    with transaction.atomic():
        code = (
            AuthCode.objects.select_for_update()
            .select_related("person")
            .filter(code=request.POST.get("code", ""))
            .first()
        )
        if (
            code is None
            or code.used
            or code.expires_at < timezone.now()
            or code.redirect_uri != request.POST.get("redirect_uri")
        ):
            return JsonResponse({"error": "invalid_grant"}, status=400)
        code.used = True
        code.save(update_fields=["used"])
    claims = {
        "iss": "alipay-sandbox",
        "aud": code.client_id,
        "sub": code.person.user_id,
        "name": code.person.name,
        "resident_id": code.person.resident_id,
        "phone": code.person.phone,
        "nonce": code.nonce,
        "iat": int(now().timestamp()),  # the one clock: tests that move time move the provider's too
    }
    payload = base64.urlsafe_b64encode(json.dumps(claims, ensure_ascii=False).encode()).decode().rstrip("=")
    signature = common.sign(_config()["private_key_path"], payload.encode())
    return JsonResponse({"assertion": payload, "signature": signature})
