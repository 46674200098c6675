"""The remote-signing API under ``/csc/v2/``, modelled on the Cloud Signature Consortium API v2 (R4.5, R4.6):
``info``, ``credentials/list``, ``credentials/info``, ``credentials/authorize`` (+ ``authorizeCheck``),
``signatures/signHash``, and our own ``credentials/decrypt`` (CSC has no decryption). Plus the device login of the
command-line tool (``oauth2/device``, ``oauth2/token``, RFC 8628), and one route that is no part of CSC,
``x-mobileca/records``: the claimant's operations with their transparency-log proofs, for ``mobileca records``.

Errors are the CSC/OAuth shape: ``{"error": code, "error_description": message}`` with an HTTP status, including the
refusals every other view gets from ``core.middleware.BoundaryMiddleware``: every route of this API is
``own_boundary`` and refuses itself, in this shape, a body past ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (413), NUL characters,
and JSON that ``core.inputs.load_json`` will not read (nested past 32, numbers beyond 2^53 or the finite, NaN,
Infinity); an unexpected error is a 500 in this shape too. Every route hides its locals (PINs, SADs, keys) from
Django's error reports, debug page included. Anonymous device logins and token polling are rate-limited per address
(429 with ``Retry-After``). The documentation (``/docs``, ``/openapi.json``) is published only when the setting
``MOBILECA_API_DOCS`` is on."""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, UnreadablePostError
from django.urls import URLPattern, URLResolver
from django.utils.log import log_response
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables
from ninja import NinjaAPI, Query, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer
from pydantic import Field

from mobileca.audit import proofs
from mobileca.audit.services import canonical_entry
from mobileca.ca import facade as ca_facade
from mobileca.ca.facade import KeyBackendError
from mobileca.core import inputs, limits
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, InvalidInput, NotFound, PermissionDenied, TooMany
from mobileca.core.http import client_address
from mobileca.core.middleware import own_boundary
from mobileca.core.secrecy import SecretsHidden, SecretsHiddenReporter
from mobileca.shield import callers, keyuse
from mobileca.shield.csc_common import BOUNDED_JSON
from mobileca.shield.models import Credential, OperationRecord
from mobileca.shield.oauth_api import router as oauth_router
from mobileca.shield.timestamp_api import router as timestamp_router


class Bearer(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> callers.Caller | None:
        return callers.caller_for_bearer(token)


PENDING_PER_CREDENTIAL = "30/h"  # each asks the claimant on the phone; nobody answers more than a few an hour
_DOCS = frozenset({"openapi-json", "openapi-view", "api-root"})


class BoundedJsonParser(Parser):
    """Bodies are read with ``core.inputs.load_json`` (depth, number and NUL bounds); the route's boundary has
    already read it, once, and refused what it could not read in this API's shape."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        parsed = getattr(request, BOUNDED_JSON, None)
        if parsed is None:
            parsed = inputs.load_json(request.body)
        if not isinstance(parsed, dict):
            raise inputs.BadInput("the body must be a JSON object")
        return parsed


class CscApi(NinjaAPI):
    """django-ninja with every route behind this API's own boundary (see the module's docstring)."""

    def _get_urls(self) -> list[URLResolver | URLPattern]:
        bounded: list[URLResolver | URLPattern] = []
        for pattern in super()._get_urls():
            assert isinstance(pattern, URLPattern), pattern  # one API, no nested resolvers
            view = _at_the_boundary(pattern.callback, docs=pattern.name in _DOCS)
            bounded.append(URLPattern(pattern.pattern, view, pattern.default_args, pattern.name))
        return bounded


api = CscApi(
    title="e签盾 remote signing (CSC API v2 profile)",
    version="2.0.0.2",
    urls_namespace="csc",
    auth=Bearer(),
    docs_url="/docs",
    parser=BoundedJsonParser(),
)


def _error(request: HttpRequest, code: str, description: str, status: int) -> HttpResponse:
    return api.create_response(request, {"error": code, "error_description": description}, status=status)


def docs_published() -> bool:
    """``MOBILECA_API_DOCS``: whether ``/docs`` and ``/openapi.json`` are served (on by default in demo mode)."""
    return bool(getattr(settings, "MOBILECA_API_DOCS", True))


def _at_the_boundary(view: Callable[..., HttpResponse], *, docs: bool) -> Callable[..., HttpResponse]:
    hidden = sensitive_variables()(view)  # every local below this frame is starred in an error report

    @functools.wraps(view)
    def bounded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        request.exception_reporter_filter = SecretsHidden()
        request.exception_reporter_class = SecretsHiddenReporter
        if docs and not docs_published():
            return _error(request, "not_found", "the API documentation is not published here", 404)
        refused = _refused_at_the_boundary(request)
        if refused is not None:
            return refused
        return hidden(request, *args, **kwargs)

    return own_boundary(bounded)


def _refused_at_the_boundary(request: HttpRequest) -> HttpResponse | None:
    """What ``BoundaryMiddleware`` refuses for every other view, refused here in this API's shape; the body, when
    there is one, is parsed once here (the parser takes it from the request)."""
    query = [item for key, values in request.GET.lists() for item in (key, *values)]
    if "\x00" in request.path or any("\x00" in item for item in query):
        return _error(request, "invalid_request", "NUL characters are not allowed in the address", 400)
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    try:
        body = request.body
    except RequestDataTooBig:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return _error(request, "invalid_request", f"the request body is larger than {limit} bytes", 413)
    except (UnreadablePostError, OSError):
        return _error(request, "invalid_request", "the request body could not be read", 400)
    if body and request.content_type == "application/x-www-form-urlencoded":
        if b"\x00" in body or b"%00" in body:
            return _error(request, "invalid_request", "NUL characters are not allowed in the body", 400)
        try:
            request.POST  # noqa: B018 -- parsed here, once, so that its refusals are this API's
        except (BadRequest, SuspiciousOperation) as exc:  # not UTF-8; more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS
            return _error(request, "invalid_request", f"the form body is not acceptable: {exc}", 400)
        return None  # OAuth's form parameters (oauth_api.py), read from request.POST
    if body:
        try:
            setattr(request, BOUNDED_JSON, inputs.load_json(body))
        except inputs.BadInput as exc:
            return _error(request, "invalid_request", f"the body is not acceptable JSON: {exc}", 400)
    return None


@api.exception_handler(ApplicationError)
def _application_error(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    response = _error(request, exc.code, exc.message, exc.status)
    if isinstance(exc, TooMany):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    cause = exc.__cause__
    description = f"the body is not acceptable JSON: {cause}" if isinstance(cause, inputs.BadInput) else str(exc)
    return _error(request, "invalid_request", description, exc.status_code)


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    """A bug: with debug on, Django's debug page (every frame's locals starred, see ``_at_the_boundary``); otherwise
    a 500 in this API's shape, logged with the traceback for the operator."""
    if settings.DEBUG:
        raise exc
    response = _error(request, "server_error", "internal error; it has been logged", 500)
    log_response("Internal Server Error: %s", request.path, response=response, request=request, exception=exc)
    return response


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return _error(request, "invalid_request", "malformed request: " + "; ".join(_fields(exc.errors)), 400)


@api.exception_handler(AuthenticationError)
def _unauthorised(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, "invalid_token", "missing, unknown or expired bearer token", 401)


@api.exception_handler(KeyBackendError)
def _key_backend(request: HttpRequest, exc: KeyBackendError) -> HttpResponse:
    return _error(request, "temporarily_unavailable", "the key service is unavailable; try again", 503)


def _issued_profiles() -> list[ca_facade.KeyProfile]:
    names = Credential.objects.values_list("key_profile", flat=True).distinct()
    return [ca_facade.key_profile(name) for name in {*names, ca_facade.DEFAULT_KEY_PROFILE.name}]


def _fields(errors: list[dict[str, Any]]) -> list[str]:
    return [".".join(str(part) for part in error.get("loc", ())[1:]) or "body" for error in errors][:5]


def _caller(request: HttpRequest) -> callers.Caller:
    caller = request.auth  # type: ignore[attr-defined]
    assert isinstance(caller, callers.Caller)
    return caller


# --- info -----------------------------------------------------------------------------------------------------

METHODS = [
    "info",
    "credentials/list",
    "credentials/info",
    "credentials/authorize",
    "credentials/authorizeCheck",
    "signatures/signHash",
    "credentials/decrypt",
]


@api.api_operation(["GET", "POST"], "/info", auth=None)
def info(request: HttpRequest) -> dict[str, Any]:
    return {
        "specs": "2.0.0.2",
        "name": "e签盾",
        "logo": settings.MOBILECA_PUBLIC_URL + "/static/favicon.ico",
        "region": "CN",
        "lang": "zh-CN",
        "description": f"{settings.MOBILECA_PLATFORM_NAME} 移动 CA 远程签名服务",
        "authType": ["oauth2client", "external"],
        "oauth2": settings.MOBILECA_PUBLIC_URL + "/csc/v2/oauth2",
        "methods": METHODS,
        # what the credentials issued here sign with: their key profiles' algorithms, nothing else
        "signAlgorithms": {"algos": sorted({profile.signature_oid for profile in _issued_profiles()})},
        "signature_formats": {"formats": ["C"], "envelope_properties": [["Detached"]]},
    }


# --- credentials ----------------------------------------------------------------------------------------------


class ListIn(Schema):
    credentialInfo: bool = False
    certificates: str = "single"
    certInfo: bool = False
    authInfo: bool = False


class InfoIn(Schema):
    credentialID: str = Field(max_length=40)
    certificates: str = "single"
    certInfo: bool = False
    authInfo: bool = True


def _credential_info(credential: Credential, *, certificates: str, cert_info: bool, auth_info: bool) -> dict[str, Any]:
    sign = ca_facade.certificate_info(serial_hex=credential.sign_serial)
    encrypt = ca_facade.certificate_info(serial_hex=credential.encrypt_serial)
    status = "valid"
    if now() >= credential.expires_at:
        status = "expired"
    elif sign.status != "good":
        status = "revoked"
    locked = credential.locked_until is not None and now() < credential.locked_until
    profile = keyuse.key_profile_of(credential)
    cert: dict[str, Any] = {"status": status}
    if certificates in ("single", "chain"):
        pems = [ca_facade.certificate_pem(serial_hex=credential.sign_serial)]
        if certificates == "chain":
            pems += ca_facade.chain_pems()
        cert["certificates"] = [_pem_body(pem) for pem in pems]
        cert["encryptionCertificate"] = _pem_body(ca_facade.certificate_pem(serial_hex=credential.encrypt_serial))
    if cert_info:
        cert.update(
            {
                "serialNumber": sign.serial_hex,
                "subjectDN": sign.subject,
                "validFrom": sign.not_before.strftime("%Y%m%d%H%M%SZ"),
                "validTo": sign.not_after.strftime("%Y%m%d%H%M%SZ"),
                "encryptionSerialNumber": encrypt.serial_hex,
            }
        )
    result: dict[str, Any] = {
        "credentialID": credential.service_no,
        "description": f"{credential.claim.enterprise_name} · {credential.claim.platform}",
        "key": {
            "status": "disabled" if locked or status != "valid" else "enabled",
            "algo": [profile.signature_oid],
            "len": profile.key_size,
            **({"curve": keyuse.curve_oid(profile)} if profile.curve else {}),
        },
        "cert": cert,
        "SCAL": "2",
        "multisign": keyuse.MAX_HASHES,
        "lang": "zh-CN",
        "validTo": credential.expires_at.isoformat(),
    }
    if locked:
        result["lockedUntil"] = credential.locked_until.isoformat() if credential.locked_until else None
    if auth_info:
        result["auth"] = {
            "mode": "explicit",
            "expression": "PIN",
            "objects": [{"type": "Password", "id": "PIN", "format": "N", "label": "PIN", "description": "6 位 PIN 码"}],
        }
    return result


def _pem_body(pem: str) -> str:
    return "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))


@api.post("/credentials/list")
def credentials_list(request: HttpRequest, body: ListIn) -> dict[str, Any]:
    credentials = callers.credentials_of(_caller(request))
    result: dict[str, Any] = {"credentialIDs": [credential.service_no for credential in credentials]}
    if body.credentialInfo:
        result["credentialInfos"] = [
            _credential_info(
                credential, certificates=body.certificates, cert_info=body.certInfo, auth_info=body.authInfo
            )
            for credential in credentials
        ]
    return result


@api.post("/credentials/info")
def credentials_info(request: HttpRequest, body: InfoIn) -> dict[str, Any]:
    credential = callers.credential_for(_caller(request), body.credentialID)
    return _credential_info(
        credential, certificates=body.certificates, cert_info=body.certInfo, auth_info=body.authInfo
    )


class AuthData(Schema):
    id: str = Field(max_length=10)
    value: str = Field(max_length=64)


class AuthorizeIn(Schema):
    credentialID: str = Field(max_length=40)
    numSignatures: int = Field(ge=1, le=keyuse.MAX_HASHES)
    hashes: list[str] = Field(min_length=1, max_length=keyuse.MAX_HASHES)
    hashAlgorithmOID: str = Field("", max_length=64)  # empty: the credential's key profile's
    authData: list[AuthData] | None = None
    description: str = Field("", max_length=100)
    # ours: what the phone shows the claimant, and which operation the SAD is for
    operation: str = "sign"
    fileName: str = Field("", max_length=200)


@api.post("/credentials/authorize")
def credentials_authorize(request: HttpRequest, body: AuthorizeIn) -> HttpResponse:
    caller = _caller(request)
    profile = keyuse.key_profile_of(callers.credential_for(caller, body.credentialID))
    if body.hashAlgorithmOID not in ("", profile.hash_oid):
        raise InvalidInput("hashAlgorithmOID must be the credential's hash algorithm", code="invalid_request")
    if body.numSignatures != len(body.hashes):
        raise InvalidInput("numSignatures must equal the number of hashes", code="invalid_request")
    pins = [item.value for item in body.authData or [] if item.id == "PIN"]
    if not pins:  # a request the phone must answer: a pending row and a notice to the claimant, per caller bounded
        limits.hit(
            "csc_authorize_pending",
            f"{caller.label}|{body.credentialID}",
            PENDING_PER_CREDENTIAL,
            message=_("请求过于频繁，请稍后再试"),
        )
    result = keyuse.authorize(
        caller=caller,
        credential_id=body.credentialID,
        operation=body.operation,
        hashes=body.hashes,
        pin=pins[0] if pins else None,
        purpose=body.description,
        file_name=body.fileName,
        address=client_address(request),
    )
    if result.sad:
        return api.create_response(request, {"SAD": result.sad, "expiresIn": result.expires_in}, status=200)
    return api.create_response(
        request,
        {
            "handle": result.handle,
            "expiresIn": result.expires_in,
            "authorizationURL": keyuse.authorization_url(result.public_ref),
        },
        status=202,
    )


class CheckIn(Schema):
    handle: str = Field(max_length=80)


@api.post("/credentials/authorizeCheck")
def credentials_authorize_check(request: HttpRequest, body: CheckIn) -> HttpResponse:
    result = keyuse.authorize_check(caller=_caller(request), handle=body.handle)
    if result.status == "pending":
        return api.create_response(request, {"status": "pending", "expiresIn": result.expires_in}, status=202)
    return api.create_response(request, {"SAD": result.sad, "expiresIn": result.expires_in}, status=200)


class SignHashIn(Schema):
    credentialID: str = Field(max_length=40)
    SAD: str = Field(max_length=100)
    hashes: list[str] = Field(min_length=1, max_length=keyuse.MAX_HASHES)
    hashAlgorithmOID: str = Field("", max_length=64)  # empty: the credential's key profile's
    signAlgo: str = Field("", max_length=64)


@api.post("/signatures/signHash")
def signatures_sign_hash(request: HttpRequest, body: SignHashIn) -> dict[str, Any]:
    signatures = keyuse.sign_hashes(
        caller=_caller(request),
        credential_id=body.credentialID,
        sad=body.SAD,
        hashes=body.hashes,
        hash_algorithm=body.hashAlgorithmOID,
        sign_algorithm=body.signAlgo,
        address=client_address(request),
    )
    return {"signatures": [base64.b64encode(signature).decode() for signature in signatures]}


class DecryptIn(Schema):
    credentialID: str = Field(max_length=40)
    SAD: str = Field(max_length=100)
    envelope: str = Field(max_length=1_000_000)  # base64 DER ContentInfo (the .p7m header, not the content)


@api.post("/credentials/decrypt")
def credentials_decrypt(request: HttpRequest, body: DecryptIn) -> dict[str, Any]:
    try:
        envelope = base64.b64decode(body.envelope, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("envelope must be base64", code="invalid_request") from None
    key = keyuse.decrypt_envelope(
        caller=_caller(request),
        credential_id=body.credentialID,
        sad=body.SAD,
        envelope=envelope,
        address=client_address(request),
    )
    return {
        "contentKey": base64.b64encode(key.key).decode(),
        "contentEncryptionAlgorithmOID": key.content_encryption_algorithm,
    }


# --- the routers mounted here: OAuth 2.0 (oauth_api.py) and the time-stamping method (timestamp_api.py) -------

api.add_router("/oauth2", oauth_router)
api.add_router("/signatures", timestamp_router)


# --- x-mobileca: not part of the CSC API ------------------------------------------------------------------------
# The claimant's own operation records with what the transparency log holds for each (issue 15): the leaf's exact
# bytes, its index and its inclusion proof against a signed tree head, so that the claimant's tool can check that
# every use of their key is in the public log, and that nothing it saw before has gone.

RECORDS_PAGE = 500


class RecordsQuery(Schema):
    after: int = Field(0, ge=0, le=2**63 - 1, description="the last record id of the previous page")
    limit: int = Field(RECORDS_PAGE, ge=1, le=RECORDS_PAGE)
    tree_size: int | None = Field(
        None, ge=0, le=2**63 - 1, description="prove against the signed head of this size (default: the latest)"
    )


def _in_tree(record: OperationRecord, tree_size: int) -> int | None:
    index = record.audit_event.leaf_index
    return index if index is not None and index < tree_size else None


def _record_entry(record: OperationRecord, paths: dict[int, list[bytes]], tree_size: int) -> dict[str, Any]:
    event = record.audit_event
    index = _in_tree(record, tree_size)
    proof = paths[index] if index is not None else None
    return {
        "id": record.pk,
        "credentialID": record.credential.service_no if record.credential else None,
        "action": record.action,
        "createdAt": record.created_at.isoformat(),
        "platform": record.platform,
        "purpose": record.purpose,
        "event": {
            "id": event.pk,
            "action": event.action,
            "subject": event.subject,
            "entry": base64.b64encode(canonical_entry(event)).decode(),
            "leaf_index": index,
            "included": index is not None,
            "audit_path": [base64.b64encode(node).decode() for node in proof] if proof is not None else None,
        },
    }


@api.get(
    "/x-mobileca/records",
    tags=["x-mobileca (not CSC)"],
    summary="My operation records with their transparency-log proofs (an extension, not part of CSC API v2)",
    description=(
        "Only for a claimant's own tool (a token from the device login). The operations on the caller's own "
        "credentials, oldest first, a page at a time (`after`: the last `id` of the previous page; `next` is the "
        "cursor of the next page, or null). For each, `event.entry` is the base64 of the exact bytes its leaf hashes "
        "(RFC 8785 JSON of the audit event), `event.leaf_index` and `event.audit_path` its RFC 9162 inclusion proof "
        "against `sth`, the signed tree head (as `/transparency/v1/sth`); events not yet in that tree have "
        "`included: false`. Pass `tree_size` (the first page's `sth.tree_size`) for the next pages, so that every "
        "proof is against the same head."
    ),
)
def x_mobileca_records(request: HttpRequest, query: Query[RecordsQuery]) -> dict[str, Any]:
    caller = _caller(request)
    if caller.kind != "token":
        raise PermissionDenied("only the claimant's own tool reads operation records", code="access_denied")
    if query.tree_size is None:
        head = proofs.latest_tree_head()
    else:
        head = proofs.tree_head_of_size(query.tree_size)
        if head is None:
            raise NotFound("no signed tree head of this size", code="not_found")
    tree_size = head.tree_size if head is not None else 0
    page = list(
        OperationRecord.objects.filter(credential__account=caller.ident, pk__gt=query.after)
        .select_related("credential", "audit_event")
        .order_by("pk")[: query.limit + 1]
    )
    more, page = len(page) > query.limit, page[: query.limit]
    included = [index for record in page if (index := _in_tree(record, tree_size)) is not None]
    paths = proofs.inclusion_proofs(included, tree_size) if included else {}
    return {
        "account": caller.ident,
        "sth": proofs.tree_head_json(head) if head is not None else None,
        "operations": [_record_entry(record, paths, tree_size) for record in page],
        "next": page[-1].pk if more else None,
    }
