"""The OAuth 2.0 endpoints of the remote-signing API, under ``/csc/v2/oauth2/`` (CSC API v2 §8.4): mounted on the
CSC API (``api.py``), so every route is behind the same boundary and answers in the same error shape. OAuth sends
its parameters ``application/x-www-form-urlencoded`` (RFC 6749 §4, RFC 8628 §3.1); a JSON object is read too.

* ``authorize`` (GET): the authorisation-code request (PKCE S256); the claimant continues on the phone
  (``views/oauth.py``), and the browser that asked is sent back to the redirect URI with the code or the error.
* ``token``: ``client_credentials`` (platforms), ``authorization_code``, ``refresh_token`` (the claimant's
  applications), and the command-line tool's device code (RFC 8628).
* ``revoke`` (RFC 7009), ``device`` (RFC 8628).

The grants themselves are ``oauth.py`` (and ``callers.py`` for the device login). Anonymous requests are counted
per address (429 with ``Retry-After``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import BadRequest, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Router

from mobileca.core import limits
from mobileca.core.errors import ApplicationError, InvalidInput
from mobileca.core.http import client_address
from mobileca.shield import callers, oauth
from mobileca.shield.csc_common import error_response, parsed_json_body

router = Router(auth=None, tags=["oauth2"])

DEVICE_STARTS_PER_ADDRESS = "20/h"  # each creates a row; a person logs a tool in a few times a day
POLLS_PER_ADDRESS = "300/m"  # the tool polls every second (60 a minute); several tools behind one office address
AUTHORIZE_PER_ADDRESS = "60/h"  # each opens a request row; a person starts a few an hour
REVOKE_PER_ADDRESS = "300/m"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
BROWSER_COOKIE = "oauth_browser"  # the asking browser's private key, on the phone page's path only
BROWSER_COOKIE_SALT = "mobileca.shield.oauth.browser"


def oauth_params(request: HttpRequest) -> dict[str, str]:
    """The request's OAuth parameters: the form body (the standard), or a JSON object of strings (read leniently);
    a parameter given twice is refused (RFC 6749 §3.1)."""
    content_type = request.content_type or ""
    if content_type == "application/x-www-form-urlencoded":
        params: dict[str, str] = {}
        try:
            fields = list(request.POST.lists())
        except BadRequest:  # a charset other than UTF-8 (RFC 6749 Appendix B: UTF-8)
            raise InvalidInput("the form must be UTF-8 encoded", code="invalid_request") from None
        except TooManyFieldsSent:
            raise InvalidInput("the form has too many fields", code="invalid_request") from None
        for key, values in fields:
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


_DEVICE_DOC: dict[str, Any] = {
    "description": (
        "RFC 8628 §3.1: the command-line tool's login. Show `verification_uri_complete` (a QR code) and poll the "
        "token endpoint with the device code."
    ),
    "requestBody": {
        "required": False,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {"client_name": {"type": "string", "description": "shown on the phone"}},
                }
            }
        },
    },
    "responses": {
        200: {
            "description": "`device_code`, `user_code`, `verification_uri`, `verification_uri_complete`, "
            "`expires_in`, `interval`",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        400: {"description": "invalid_request"},
        429: {"description": "too many logins from this address (`Retry-After`)"},
    },
}


@router.post("/device", openapi_extra=_DEVICE_DOC)
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


def _form(*properties: tuple[str, str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: {"type": "string", "description": text} for name, text in properties},
    }
    if required:
        schema["required"] = list(required)
    return {"application/x-www-form-urlencoded": {"schema": schema}}


def _error_doc(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
                    "required": ["error"],
                }
            }
        },
    }


_CLIENT_AUTH = (
    ("client_id", "the client's id (unless sent by HTTP Basic)"),
    ("client_secret", "a confidential client's secret (unless sent by HTTP Basic)"),
)
_TOKEN_DOC: dict[str, Any] = {
    "description": (
        "RFC 6749 token endpoint (CSC API v2 §8.4.4): `client_credentials` (platforms; HTTP Basic or client_id and "
        "client_secret in the form), `authorization_code` (with `code_verifier`, PKCE S256), `refresh_token` "
        "(rotated on every use; a reused one revokes its family), and the device code of the command-line tool "
        "(RFC 8628). Answers `Cache-Control: no-store`."
    ),
    "requestBody": {
        "required": True,
        "content": _form(
            ("grant_type", "client_credentials | authorization_code | refresh_token | " + DEVICE_GRANT),
            ("scope", "service (the default)"),
            ("code", "authorization_code: the code"),
            ("redirect_uri", "authorization_code: as in the authorisation request"),
            ("code_verifier", "authorization_code: the PKCE verifier"),
            ("refresh_token", "refresh_token: the refresh token"),
            ("device_code", "device code grant: the device code"),
            *_CLIENT_AUTH,
            required=("grant_type",),
        ),
    },
    "responses": {
        200: {
            "description": "the token (`access_token`, `token_type` Bearer, `expires_in`, `scope`; `refresh_token` "
            "for scope service by code; for scope credential the token is the SAD of the approval and "
            "`credentialID` (and `authorization_details` when asked with them) are returned)",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        400: _error_doc(
            "invalid_request, invalid_client (form authentication), invalid_grant, unauthorized_client, "
            "unsupported_grant_type, invalid_scope; for the device code also authorization_pending, slow_down, "
            "access_denied, expired_token"
        ),
        401: _error_doc("invalid_client after HTTP Basic authentication (with `WWW-Authenticate: Basic`)"),
        429: _error_doc("too many requests from this address (`Retry-After`)"),
    },
}


def _no_store(response: HttpResponse) -> HttpResponse:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@router.post("/token", openapi_extra=_TOKEN_DOC)
def oauth2_token(request: HttpRequest) -> HttpResponse:
    limits.hit("oauth2_token", client_address(request), POLLS_PER_ADDRESS, message=_("请求过于频繁，请稍后再试"))
    grant_type, client_id = "", ""
    try:
        params = oauth_params(request)
        client_id = params.get("client_id", "")
        grant_type = _param(params, "grant_type", max_length=100)
        if grant_type == DEVICE_GRANT:  # the tool's polling: its answers (authorization_pending …) are not audited
            token, expires_in = callers.device_token(device_code=_param(params, "device_code", max_length=80))
            return _no_store(JsonResponse({"access_token": token, "token_type": "Bearer", "expires_in": expires_in}))
        grants = {
            "client_credentials": oauth.client_credentials,
            "authorization_code": oauth.authorization_code,
            "refresh_token": oauth.refresh,
        }
        auth = oauth.read_client_auth(request.headers.get("Authorization", ""), params)
        client_id = auth.client_id if auth else client_id
        if grant_type not in grants:
            raise oauth.OAuthError("unsupported_grant_type", f"grant_type {grant_type[:40]} is not offered")
        client = oauth.authenticate(auth)
        issued = grants[grant_type](client, params)
    except oauth.OAuthError as refused:
        oauth.audit_refusal(
            grant_type=grant_type, client_id=client_id, error=refused.code, address=client_address(request)
        )
        return _oauth_error(refused)
    except ApplicationError as refused:  # unreadable parameters; the device code's answers
        if grant_type != DEVICE_GRANT:
            oauth.audit_refusal(
                grant_type=grant_type, client_id=client_id, error=refused.code, address=client_address(request)
            )
        return _no_store(error_response(refused.code, refused.message, refused.status))
    return _no_store(JsonResponse(issued.json()))


def _oauth_error(refused: oauth.OAuthError) -> HttpResponse:
    response = error_response(refused.code, refused.message, refused.status)
    if refused.basic and refused.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="csc", charset="UTF-8"'
    return _no_store(response)


# --- revocation (RFC 7009) --------------------------------------------------------------------------------------

_REVOKE_DOC: dict[str, Any] = {
    "description": (
        "RFC 7009 (CSC API v2 §8.4.5): a refresh token takes every token of its grant with it; an access token of "
        "scope credential its authorisation. 200 also for unknown tokens and tokens of another client (nothing "
        "changes). Confidential clients authenticate as at the token endpoint."
    ),
    "requestBody": {
        "required": True,
        "content": _form(
            ("token", "the token to revoke"),
            ("token_type_hint", "access_token | refresh_token"),
            *_CLIENT_AUTH,
            required=("token",),
        ),
    },
    "responses": {
        200: {"description": "revoked, or nothing to revoke"},
        400: _error_doc("invalid_request, invalid_client (form authentication)"),
        401: _error_doc("invalid_client after HTTP Basic authentication"),
        429: _error_doc("too many requests from this address (`Retry-After`)"),
    },
}


@router.post("/revoke", openapi_extra=_REVOKE_DOC)
def oauth2_revoke(request: HttpRequest) -> HttpResponse:
    limits.hit("oauth2_revoke", client_address(request), REVOKE_PER_ADDRESS, message=_("请求过于频繁，请稍后再试"))
    params = oauth_params(request)
    token = _param(params, "token", max_length=200)
    try:
        auth = oauth.read_client_auth(request.headers.get("Authorization", ""), params)
        client = oauth.authenticate(auth) if auth is not None else None
    except oauth.OAuthError as refused:
        return _oauth_error(refused)
    oauth.revoke(token=token, client=client)
    return _no_store(HttpResponse(status=200))


# --- the authorisation-code request (RFC 6749 §4.1, RFC 7636, CSC API v2 §8.4.2) ------------------------------

_AUTHORIZE_PARAMS = [
    ("response_type", "code", True),
    ("client_id", "the application's client id", True),
    ("redirect_uri", "one of the registered redirect URIs (a loopback one with any port)", False),
    ("scope", "service (default) | credential", False),
    ("code_challenge", "BASE64URL(SHA256(code_verifier))", True),
    ("code_challenge_method", "S256 (plain is refused)", True),
    ("state", "returned with the code or the error", False),
    ("credentialID", "scope credential: the credential", False),
    ("numSignatures", "scope credential: the number of hashes", False),
    ("hashes", "scope credential: comma-separated SHA-256 hashes, base64 or base64url", False),
    ("hashAlgorithmOID", "scope credential: 2.16.840.1.101.3.4.2.1", False),
    ("description", "scope credential: what is signed, shown on the phone", False),
    ("authorization_details", 'instead: RAR JSON, [{"type":"credential", credentialID, documentDigests, ...}]', False),
]
_AUTHORIZE_DOC: dict[str, Any] = {
    "description": (
        "RFC 6749 §4.1.1 with PKCE S256 (RFC 7636): opened in the user's browser. The browser is sent on to the "
        "phone page (302), where the claimant signs in with the phone identity and allows; for scope credential the "
        "PIN there authorises exactly the hashes. The browser that asked is then sent to the redirect URI with "
        "`code` and `state`, or `error` and `state`. Errors before a registered redirect URI is known are shown "
        "(an HTML page for a browser, this API's error shape otherwise), never redirected."
    ),
    "parameters": [
        {"in": "query", "name": name, "required": required, "schema": {"type": "string"}, "description": text}
        for name, text, required in _AUTHORIZE_PARAMS
    ],
    "responses": {
        302: {"description": "to the phone page, or to the redirect URI with `error` and `state`"},
        400: _error_doc("unknown client, or a redirect URI that is missing or not registered"),
        429: _error_doc("too many requests from this address (`Retry-After`)"),
    },
}


def _query_params(request: HttpRequest) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, values in request.GET.lists():
        if len(values) != 1:
            raise InvalidInput(f"parameter {key} is repeated", code="invalid_request")
        params[key] = values[0]
    return params


def _shown(request: HttpRequest, refused: oauth.OAuthError) -> HttpResponse:
    """An error before a valid redirect URI is known: a page for a person's browser, JSON for a program."""
    if "text/html" in request.headers.get("Accept", ""):
        message = _("应用的授权请求无效：{reason}").format(reason=refused.message)
        return render(request, "shield/h5_refusal.html", {"message": message}, status=400)
    return error_response(refused.code, refused.message, 400)


def error_redirect(redirect_uri: str, state: str, code: str, description: str) -> HttpResponse:
    query = {"error": code, "error_description": description, **({"state": state} if state else {})}
    return _redirect(redirect_uri, query)


def _redirect(redirect_uri: str, query: dict[str, str]) -> HttpResponse:
    """302 to a registered redirect URI (https, loopback http or a native app's private-use scheme, which Django's
    redirect classes would refuse), the parameters added to its query (RFC 6749 §4.1.2)."""
    separator = "&" if "?" in redirect_uri else "?"
    response = HttpResponse(status=302)
    response.headers["Location"] = redirect_uri + separator + urlencode(query)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/authorize", openapi_extra=_AUTHORIZE_DOC, include_in_schema=True)
def oauth2_authorize(request: HttpRequest) -> HttpResponse:
    limits.hit(
        "oauth2_authorize", client_address(request), AUTHORIZE_PER_ADDRESS, message=_("请求过于频繁，请稍后再试")
    )
    try:
        checked = oauth.check_request(_query_params(request))
    except oauth.RedirectableError as refused:
        return error_redirect(refused.redirect_uri, refused.state, refused.code, refused.message)
    except oauth.OAuthError as refused:
        return _shown(request, refused)
    except InvalidInput as refused:
        return _shown(request, oauth.OAuthError("invalid_request", refused.message))
    private, public = oauth.browser_keypair()
    grant = oauth.grant_open(checked, browser_public=public)
    page = reverse("shield:h5_oauth", args=[grant.ref])
    response = HttpResponseRedirect(page)
    response.set_signed_cookie(
        BROWSER_COOKIE,
        private.hex(),
        salt=BROWSER_COOKIE_SALT,
        max_age=int(oauth.REQUEST_LIFETIME.total_seconds()),
        path=page,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


def code_redirect(redirect_uri: str, code: str, state: str) -> HttpResponse:
    return _redirect(redirect_uri, {"code": code, **({"state": state} if state else {})})
