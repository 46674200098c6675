"""The OAuth 2.0 endpoints of the remote-signing API, under ``/csc/v2/oauth2/`` (CSC API v2 §8.4): mounted on the
CSC API (``api.py``), so every route is behind the same boundary and answers in the same error shape. OAuth sends
its parameters ``application/x-www-form-urlencoded`` (RFC 6749 §4, RFC 8628 §3.1); a JSON object is read too.

Today: the command-line tool's device login (RFC 8628)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from ninja import Router

from mobileca.core import limits
from mobileca.core.errors import InvalidInput
from mobileca.core.http import client_address
from mobileca.shield import callers
from mobileca.shield.csc_common import error_response, parsed_json_body

router = Router(auth=None, tags=["oauth2"])

DEVICE_STARTS_PER_ADDRESS = "20/h"  # each creates a row; a person logs a tool in a few times a day
POLLS_PER_ADDRESS = "300/m"  # the tool polls every second (60 a minute); several tools behind one office address
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def oauth_params(request: HttpRequest) -> dict[str, str]:
    """The request's OAuth parameters: the form body (the standard), or a JSON object of strings (read leniently);
    a parameter given twice is refused (RFC 6749 §3.1)."""
    content_type = request.content_type or ""
    if content_type == "application/x-www-form-urlencoded":
        params: dict[str, str] = {}
        for key, values in request.POST.lists():
            if len(values) != 1:
                raise InvalidInput(f"parameter {key} is repeated", code="invalid_request")
            params[key] = values[0]
        return params
    body = parsed_json_body(request)
    if body is None:
        return {}
    if not isinstance(body, dict) or not all(isinstance(value, str) for value in body.values()):
        raise InvalidInput("the parameters must be form-encoded (or a JSON object of strings)", code="invalid_request")
    return body


def _param(params: dict[str, str], name: str, *, max_length: int = 200, default: str | None = None) -> str:
    value = params.get(name, default)
    if value is None:
        raise InvalidInput(f"Missing parameter {name}", code="invalid_request")
    if len(value) > max_length:
        raise InvalidInput(f"Invalid parameter {name}", code="invalid_request")
    return value


# --- the tool's device login (RFC 8628) -----------------------------------------------------------------------


@router.post("/device")
def oauth2_device(request: HttpRequest) -> dict[str, Any]:
    limits.hit(
        "oauth2_device",
        client_address(request),
        DEVICE_STARTS_PER_ADDRESS,
        message=_("登录请求过于频繁，请稍后再试"),
    )
    params = oauth_params(request)
    start = callers.device_start(client_name=_param(params, "client_name", max_length=60, default="mobileca"))
    return {
        "device_code": start.device_code,
        "user_code": start.user_code,
        "verification_uri": start.verification_uri,
        "verification_uri_complete": start.verification_uri_complete,
        "expires_in": start.expires_in,
        "interval": start.interval,
    }


@router.post("/token")
def oauth2_token(request: HttpRequest) -> HttpResponse:
    limits.hit("oauth2_token", client_address(request), POLLS_PER_ADDRESS, message=_("请求过于频繁，请稍后再试"))
    params = oauth_params(request)
    grant_type = _param(params, "grant_type", max_length=100)
    if grant_type != DEVICE_GRANT:
        return error_response("unsupported_grant_type", "only the device-code grant is offered", 400)
    token, expires_in = callers.device_token(device_code=_param(params, "device_code", max_length=80))
    return JsonResponse({"access_token": token, "token_type": "Bearer", "expires_in": expires_in})
