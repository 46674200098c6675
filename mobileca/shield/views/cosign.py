"""Two-party SM2 on the phone (issue 20): the JSON endpoints the phone page's script calls in the claimant's phone
session (CSRF as every h5 POST: the page sends its token in ``X-CSRFToken``). Thin wrappers over ``shield.cosign``;
a refusal is ``{"code", "message"}`` with its 4xx status, an unavailable key back-end a 502, never a 500."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mobileca.core.errors import ApplicationError, GatewayError, InvalidInput, NotFound
from mobileca.core.http import client_address
from mobileca.core.secrecy import hide_secrets
from mobileca.shield import cosign
from mobileca.shield.models import Credential
from mobileca.shield.views.common import phone_account

log = logging.getLogger("mobileca.shield.views")
MAX_BODY = 64 * 1024  # a phone message is a few hundred bytes; an envelope header a few kilobytes


def _error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status)


def _body(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > MAX_BODY:
        raise InvalidInput(_("请求过大"), code="too_large")
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(_("请求须为 JSON"), code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidInput(_("请求须为 JSON 对象"), code="invalid_json")
    return body


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name, "")
    if not isinstance(value, str):
        raise InvalidInput(_("请求参数无效"), code="invalid_request")
    return value


def _json_view(handler: Callable[[HttpRequest, str, dict[str, Any]], dict[str, Any]]) -> Callable[..., JsonResponse]:
    """POST only, the signed-in phone identity, the JSON body; refusals as ``{"code", "message"}``."""

    @require_POST
    def view(request: HttpRequest) -> JsonResponse:
        account = phone_account(request)
        if not account:
            return _error("sign_in_first", _("请先使用支付宝登录"), 403)
        try:
            return JsonResponse(handler(request, account, _body(request)))
        except GatewayError:
            log.exception("a two-party SM2 call failed at the key back-end")
            return _error("unavailable", _("服务暂时不可用，请稍后重试"), 502)
        except ApplicationError as exc:
            return _error(exc.code, exc.message, exc.status)

    view.__name__ = view.__qualname__ = handler.__name__
    view.__doc__ = handler.__doc__
    return view


def _credential(account: str, service_no: str) -> Credential:
    credential = Credential.objects.filter(service_no=service_no, account=account).first()
    if credential is None:
        raise NotFound(_("未找到该证书"), code="credential_unknown")
    return credential


def _keygen(request: HttpRequest, account: str, body: dict[str, Any]) -> dict[str, Any]:
    """``{"ticket", "usage"}`` (the claim or renewal at its PIN step) or ``{"service_no", "usage"}`` (a re-key after a
    passed face check) → ``{"session"}``; then ``{"session",
    "message"}`` → ``{"public_key", "pepper"}`` (hex; the phone seals its half under the pepper and the new PIN)."""
    if "session" in body:
        made = cosign.keygen_finish(session=_text(body, "session"), message=body.get("message"), account=account)
        return {"public_key": made.public_key, "pepper": made.pepper.hex()}
    return {
        "session": cosign.keygen_begin(
            ticket=_text(body, "ticket"),
            usage=_text(body, "usage"),
            account=account,
            service_no=_text(body, "service_no"),
        )
    }


def _approve(request: HttpRequest, account: str, body: dict[str, Any]) -> dict[str, Any]:
    """``{"authorization": ref, "pin"}`` → for signing ``{"operation", "public_key", "pepper", "rounds": [{"session",
    "e"}]}``, for decryption ``{"operation", "public_key", "pepper", "session", "c1", "ciphertext"}``; the PIN is
    counted as any PIN."""
    approval = cosign.approve(
        public_ref=_text(body, "authorization"),
        account=account,
        pin=_text(body, "pin"),
        address=client_address(request),
    )
    answer: dict[str, Any] = {
        "operation": approval.operation,
        "public_key": approval.public_key,
        "pepper": approval.pepper.hex(),
    }
    if approval.operation == "sign":
        answer["rounds"] = [{"session": item.session, "e": item.e} for item in approval.rounds]
    else:
        answer.update(
            session=approval.session, c1=approval.c1, ciphertext=base64.b64encode(approval.ciphertext).decode()
        )
    return answer


def _sign(request: HttpRequest, account: str, body: dict[str, Any]) -> dict[str, Any]:
    """``{"session", "message"}`` → the service's answer ``{"r", "s2", "s3"}``; ``{"authorization": ref,
    "signatures": [{"session", "signature"}]}`` → ``{"status": "authorized"}``."""
    if "signatures" in body:
        authorization = cosign.sign_finish(
            public_ref=_text(body, "authorization"),
            signatures=body.get("signatures"),
            account=account,
            address=client_address(request),
        )
        return {"status": authorization.status}
    return cosign.sign_round(
        session=_text(body, "session"),
        message=body.get("message"),
        account=account,
        address=client_address(request),
    )


def _decrypt(request: HttpRequest, account: str, body: dict[str, Any]) -> dict[str, Any]:
    """``{"session", "message"}`` → ``{"status": "authorized"}`` (the content key is computed only when the
    platform spends the SAD, and stays with the service)."""
    authorization = cosign.decrypt_round(
        session=_text(body, "session"),
        message=body.get("message"),
        account=account,
        address=client_address(request),
    )
    return {"status": authorization.status}


def _pepper(request: HttpRequest, account: str, body: dict[str, Any]) -> dict[str, Any]:
    """``{"service_no", "usage", "pin"}`` (and ``"public_key"`` to name a share, e.g. an archived one) →
    ``{"pepper": hex}`` once the PIN is accepted (counted as any PIN)."""
    credential = _credential(account, _text(body, "service_no"))
    pepper = cosign.pepper_release(
        credential=credential,
        pin=_text(body, "pin"),
        account=account,
        usage=_text(body, "usage") or "sign",
        public_key=_text(body, "public_key"),
        address=client_address(request),
    )
    return {"pepper": pepper.hex()}


h5_cosign_keygen = _json_view(_keygen)
h5_cosign_sign = _json_view(_sign)
h5_cosign_decrypt = _json_view(_decrypt)
h5_cosign_approve = hide_secrets()(_json_view(_approve))
h5_cosign_pepper = hide_secrets()(_json_view(_pepper))
