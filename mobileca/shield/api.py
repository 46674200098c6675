"""The remote-signing API under ``/csc/v2/``, modelled on the Cloud Signature Consortium API v2 (R4.5, R4.6):
``info``, ``credentials/list``, ``credentials/info``, ``credentials/authorize`` (+ ``authorizeCheck``),
``signatures/signHash``, and our own ``credentials/decrypt`` (CSC has no decryption). Plus the device login of the
command-line tool (``oauth2/device``, ``oauth2/token``, RFC 8628), and one route that is no part of CSC,
``x-mobileca/records``: the claimant's operations with their transparency-log proofs, for ``mobileca records``.

Each credential signs with its key profile's algorithm (``Credential.key_profile``): ECDSA P-256 or RSA with SHA-256,
or SM2 (issue 19): signAlgo 1.2.156.10197.1.501 (SM3withSM2; SM2-1, 301.1, is taken as the same), hashAlgorithmOID
SM3 (1.2.156.10197.1.401), the hashes being e = SM3(Z ‖ M) with the ID 1234567812345678 as GM/T 0009 clients compute
them; another profile's algorithm is refused before the SAD is spent. An SM2 credential's ``credentials/decrypt``
takes a GB/T 35275 envelope header (SM2 key transport, SM4-CBC or SM4-GCM, the ciphertext detached).

A decryption is authorised by ``credentials/authorize`` with ``operation`` "decrypt" (ours) and one hash, the base64
SHA-256 of the envelope that ``credentials/decrypt`` will then open; the request may carry the envelope itself
(``envelope``, ours, base64, decrypt only; its SHA-256 must be that hash). With it the authorisation is for the key
the envelope is sealed for: the current encryption key, or one kept from before a renewal (issue 21), which the
phone page and the operation record name; a split-key credential (issue 20) needs it, since the phone's half of the
decryption works on the envelope (else 400 ``envelope_needed``, nothing stored). For a credential whose key the
service holds, an envelope not addressed to it is refused there (``not_a_recipient``), before anything is stored.

Errors are the CSC/OAuth shape: ``{"error": code, "error_description": message}`` with an HTTP status (CSC §10): the
services' refusals (unknown credential, hash not authorised, used, expired or re-keyed SAD, unknown handle, locked,
expired or revoked credential) are 400 ``invalid_request`` here (a wrong PIN 400 ``invalid_authentication_data``),
the spec's wording first and the reason after it (``CSC_REFUSALS``); the services keep their own codes for the
platform's pages. Rate limits stay 429, the key service 503, a bad bearer 401 ``invalid_token``. Every route
declares its answers in the OpenAPI document. CSC 1.0 parameter names (``hash``, ``hashAlgo``, authorize's ``PIN``)
are read beside v2's. The refusals every other view gets from ``core.middleware.BoundaryMiddleware`` are answered
here too: every route of this API is
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
from typing import Annotated, Any, Literal

from cryptography import x509
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, UnreadablePostError
from django.templatetags.static import static
from django.urls import Resolver404, URLPattern, URLResolver, resolve
from django.utils.log import log_response
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables
from ninja import NinjaAPI, Query, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer
from pydantic import ConfigDict, Field

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
from mobileca.shield import callers, cosign_keys, keyuse, oauth
from mobileca.shield.csc_common import BOUNDED_JSON, ERRORS, ErrorOut
from mobileca.shield.models import Credential, OperationRecord
from mobileca.shield.oauth_api import router as oauth_router
from mobileca.shield.timestamp_api import router as timestamp_router


class Bearer(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> callers.Caller | None:
        return oauth.caller_for_bearer(token)


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


# --- errors: CSC API v2 §10 --------------------------------------------------------------------------------------
# The services refuse with their own codes (the platform's bidding pages and the phone pages read them); a CSC client
# expects 400 ``invalid_request`` (or a few other codes of the spec) with the spec's wording. The mapping is here,
# at the API, and only here: the reason stays in the description, after the spec's wording.

CSC_REFUSALS: dict[str, tuple[str, str]] = {
    # our code → (the CSC error, the spec's wording)
    "credential_unknown": ("invalid_request", "Invalid parameter credentialID"),
    "credential_locked": ("invalid_request", "Credential locked"),
    "credential_expired": ("invalid_request", "Signing certificate is expired"),
    "credential_revoked": ("invalid_request", "The credential identified by credentialID is disabled"),
    "invalid_authentication_data": ("invalid_authentication_data", "The authentication data is invalid"),
    "pin_format": ("invalid_authentication_data", "The authentication data is invalid"),
    "pin_not_accepted": ("invalid_request", "Invalid parameter authData: a platform never sends the PIN"),
    "invalid_sad": ("invalid_request", "Invalid parameter SAD"),
    "sad_used": ("invalid_request", "Invalid parameter SAD: it has been used"),
    "sad_expired": ("invalid_request", "SAD expired"),
    "sad_key_replaced": ("invalid_request", "SAD was issued for a key this credential no longer has"),
    "hash_not_authorized": ("invalid_request", "Hash is not authorized by the SAD"),
    "invalid_hash_base64": ("invalid_request", "Invalid Base64 hash string parameter"),
    "invalid_hash_length": ("invalid_request", "Invalid digest value length"),
    "invalid_hash_algorithm": ("invalid_request", "Invalid parameter hashAlgorithmOID"),
    "invalid_sign_algorithm": ("invalid_request", "Invalid parameter signAlgo"),
    "invalid_sign_algorithm_params": ("invalid_request", "Invalid parameter signAlgoParams"),
    "handle_unknown": ("invalid_request", "Invalid parameter handle"),
    "authorization_expired": ("invalid_request", "Invalid parameter handle: the request expired unanswered"),
    "sad_delivered": ("invalid_request", "Invalid parameter handle: its SAD was already delivered"),
    "authorization_refused": ("access_denied", "The user denied the request"),
}


def csc_refusal(exc: ApplicationError) -> tuple[int, str, str]:
    """The HTTP status, CSC error code and description a refusal of the services is answered with."""
    if exc.code in CSC_REFUSALS:
        error, wording = CSC_REFUSALS[exc.code]
        return 400, error, f"{wording}: {exc.message}"
    return exc.status, exc.code, exc.message


@api.exception_handler(ApplicationError)
def _application_error(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    status, error, description = csc_refusal(exc)
    response = _error(request, error, description, status)
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


_KINDS = {  # pydantic's error types → the CSC wording's parameter kinds ("Missing (or invalid type) string …")
    "string_type": "string",
    "int_type": "integer",
    "int_parsing": "integer",
    "int_from_float": "integer",
    "list_type": "array",
    "bool_type": "boolean",
    "bool_parsing": "boolean",
    "model_type": "object",
    "dict_type": "object",
    "model_attributes_type": "object",
}
_PARAMETER_KINDS = {"numSignatures": "integer", "hashes": "array", "hash": "array", "authData": "array"}


def _csc_wording(error: dict[str, Any]) -> str:
    """One pydantic error in CSC's words: "Missing (or invalid type) string parameter SAD", "Invalid parameter X"."""
    names = [part for part in error.get("loc", ()) if isinstance(part, str) and part != "body"]
    name = names[0] if names else "body"
    kind = _KINDS.get(str(error.get("type")))
    if error.get("type") == "missing":
        kind = _PARAMETER_KINDS.get(name, "string")
    if kind is not None and len(names) == 1:
        return f"Missing (or invalid type) {kind} parameter {name}"
    return f"Invalid parameter {name}"


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    wordings = list(dict.fromkeys(_csc_wording(error) for error in exc.errors))[:5]
    return _error(request, "invalid_request", "; ".join(wordings), 400)


@api.exception_handler(AuthenticationError)
def _unauthorised(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, "invalid_token", "missing, unknown or expired bearer token", 401)


@api.exception_handler(KeyBackendError)
def _key_backend(request: HttpRequest, exc: KeyBackendError) -> HttpResponse:
    return _error(request, "temporarily_unavailable", "the key service is unavailable; try again", 503)


def _issued_profiles() -> list[ca_facade.KeyProfile]:
    names = Credential.objects.values_list("key_profile", flat=True).distinct()
    return [ca_facade.key_profile(name) for name in {*names, ca_facade.DEFAULT_KEY_PROFILE.name}]


def _caller(request: HttpRequest) -> callers.Caller:
    caller = request.auth  # type: ignore[attr-defined]
    assert isinstance(caller, callers.Caller)
    return caller


def _service_caller(request: HttpRequest) -> callers.Caller:
    """The caller of a method that needs service authorisation: a token of scope "credential" is one approved use of
    one credential (CSC §8.4: it covers ``credentials/info`` and ``signatures/signHash``), nothing more."""
    caller = _caller(request)
    if caller.credential:
        raise InvalidInput(
            "a credential-scope access token only signs the hashes it was approved for", code="invalid_request"
        )
    return caller


def _ok(request: HttpRequest, data: dict[str, Any], status: int = 200) -> HttpResponse:
    """An answer as built: the routes' response schemas document it (OpenAPI) without filtering what CSC leaves
    open (its objects may carry more members)."""
    return api.create_response(request, data, status=status)


def _invalid(description: str) -> InvalidInput:
    return InvalidInput(description, code="invalid_request")


# --- what every route documents: its answers (OpenAPI), so that a client knows every status it can get -----------


class Open(Schema):
    """An answer whose listed members are documented; it may carry more (CSC objects are open)."""

    model_config = ConfigDict(extra="allow")


# --- info -----------------------------------------------------------------------------------------------------

# The CSC API v2 methods (Table 4, less the OAuth 2.0 endpoints, which are the authorisation server's), listed in
# info only when this server routes them (signatures/timestamp, for one, comes with the time-stamping authority).
CSC_METHODS = (
    "auth/login",
    "auth/revoke",
    "credentials/list",
    "credentials/info",
    "credentials/authorize",
    "credentials/authorizeCheck",
    "credentials/extendTransaction",
    "credentials/getChallenge",
    "credentials/sendOTP",
    "signatures/signHash",
    "signatures/signDoc",
    "signatures/signPolling",
    "signatures/timestamp",
)
EXTENSION_METHODS = ("credentials/decrypt", "x-mobileca/records")  # ours, not CSC's: listed apart


def routed(method: str) -> bool:
    """Whether ``/csc/v2/<method>`` is a route of this API."""
    try:
        match = resolve(f"/csc/v2/{method}")
    except Resolver404:
        return False
    return match.namespace == "csc"


class InfoOut(Open):
    specs: str
    name: str
    logo: str
    region: str
    lang: str
    description: str
    authType: list[str]
    oauth2: str
    methods: list[str]
    signAlgorithms: dict[str, list[str]]
    signature_formats: dict[str, Any]
    conformance_levels: list[str]


@api.api_operation(
    ["GET", "POST"], "/info", auth=None, response={200: InfoOut, **{k: v for k, v in ERRORS.items() if k != 401}}
)
def info(request: HttpRequest) -> HttpResponse:
    methods = ["info", *(method for method in CSC_METHODS if routed(method))]
    return _ok(
        request,
        {
            "specs": "2.0.0.2",
            "name": "e签盾",
            "logo": settings.MOBILECA_PUBLIC_URL + static(LOGO),
            "region": "CN",
            "lang": "zh-CN",
            "description": f"{settings.MOBILECA_PLATFORM_NAME} 移动 CA 远程签名服务",
            # OAuth 2.0 client credentials (platforms) and authorisation code with PKCE (a person's application) at the
            # authorisation server below, which also serves the tool's device login (RFC 8628); nothing else is a
            # bearer token here (a platform's secret only authenticates it at the token endpoint)
            "authType": ["oauth2client", "oauth2code"],
            # the authorisation server's base: a client appends "/oauth2/token", "/oauth2/authorize" (CSC §8.4)
            "oauth2": settings.MOBILECA_PUBLIC_URL + "/csc/v2",
            "methods": methods,
            "x-mobileca-methods": [method for method in EXTENSION_METHODS if routed(method)],
            # what the credentials issued here sign with: their key profiles' algorithms, nothing else
            "signAlgorithms": {"algos": sorted({profile.signature_oid for profile in _issued_profiles()})},
            "signature_formats": {"formats": ["C"], "envelope_properties": [["Detached"]]},
            # signHash gives raw signatures for a client's own AdES (B-B); B-T once time-stamps are offered here
            "conformance_levels": ["Ades-B-B", *(["Ades-B-T"] if "signatures/timestamp" in methods else [])],
        },
    )


LOGO = "shield/csc-logo.png"  # 128 × 128 PNG (CSC: JPEG or PNG, at most 256 × 256)


# --- credentials ----------------------------------------------------------------------------------------------

Certificates = Literal["none", "single", "chain"]


class ListIn(Schema):
    credentialInfo: bool = False
    certificates: Certificates = "single"
    certInfo: bool = False
    authInfo: bool = False
    onlyValid: bool = False


class InfoIn(Schema):
    credentialID: str = Field(max_length=40)
    certificates: Certificates = "single"
    certInfo: bool = False
    authInfo: bool = True


# RFC 4514 names for the attributes our certificates carry beyond RFC 4514's own (CN, O, C, …): RFC 4519's and
# X.520's, never a dotted OID, so that a client shows the name as a person reads it
_DN_NAMES = {
    NameOID.GIVEN_NAME: "givenName",
    NameOID.SURNAME: "SN",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
    NameOID.TITLE: "title",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.BUSINESS_CATEGORY: "businessCategory",
    NameOID.JURISDICTION_COUNTRY_NAME: "jurisdictionC",
    x509.ObjectIdentifier("2.5.4.13"): "description",
    x509.ObjectIdentifier("2.5.4.12"): "title",
    x509.ObjectIdentifier("2.5.4.43"): "initials",
}


def distinguished_name(name: x509.Name) -> str:
    """A DN as CSC's ``issuerDN`` / ``subjectDN``: RFC 4514, attribute names rather than OIDs."""
    return name.rfc4514_string(attr_name_overrides=_DN_NAMES)


def serial_hex(serial: int) -> str:
    """A serial number as CSC shows it: hexadecimal, upper case, an even number of digits."""
    digits = f"{serial:X}"
    return digits if len(digits) % 2 == 0 else "0" + digits


def _auth_info(caller: callers.Caller, credential: Credential) -> dict[str, Any]:
    """How this caller authorises a use (CSC §8.3): the claimant's own tool may send the PIN, or have the phone
    approve; a platform never sees a PIN — its requests are approved on the claimant's phone (out of band). A
    split-key credential (issue 20) is approved on the phone only: a PIN sent with the request is refused."""
    phone = {
        "type": "ChallengeResponseOOB",
        "id": "PHONE",
        "label": "e签盾",
        "description": _("申领人在手机上核对请求并输入 PIN 码批准"),
    }
    if caller.kind == "token" and not cosign_keys.is_split(credential):
        pin = {"type": "Password", "id": "PIN", "format": "N", "label": "PIN", "description": _("6 位 PIN 码")}
        return {"mode": "explicit", "expression": "PIN OR PHONE", "objects": [pin, phone]}
    return {"mode": "explicit", "expression": "PHONE", "objects": [phone]}


def _credential_info(
    credential: Credential, caller: callers.Caller, *, certificates: str, cert_info: bool, auth_info: bool
) -> dict[str, Any]:
    sign = ca_facade.certificate_info(serial_hex=credential.sign_serial)
    status = "valid"
    if now() >= credential.expires_at:
        status = "expired"
    elif sign.status != "good":
        status = "revoked"
    locked = credential.locked_until is not None and now() < credential.locked_until
    profile = keyuse.key_profile_of(credential)
    cert: dict[str, Any] = {"status": status}
    sign_pem = ca_facade.certificate_pem(serial_hex=credential.sign_serial)
    encrypt_pem = ca_facade.certificate_pem(serial_hex=credential.encrypt_serial)
    if certificates in ("single", "chain"):
        pems = [sign_pem]
        if certificates == "chain":
            pems += ca_facade.chain_pems(credential.key_profile)
        cert["certificates"] = [_pem_body(pem) for pem in pems]
        cert["encryptionCertificate"] = _pem_body(encrypt_pem)
    if cert_info:
        certificate = x509.load_pem_x509_certificate(sign_pem.encode())
        encryption = x509.load_pem_x509_certificate(encrypt_pem.encode())
        cert.update(
            {
                "issuerDN": distinguished_name(certificate.issuer),
                "serialNumber": serial_hex(certificate.serial_number),
                "subjectDN": distinguished_name(certificate.subject),
                "validFrom": certificate.not_valid_before_utc.strftime("%Y%m%d%H%M%SZ"),
                "validTo": certificate.not_valid_after_utc.strftime("%Y%m%d%H%M%SZ"),
                "encryptionSerialNumber": serial_hex(encryption.serial_number),
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
        result["auth"] = _auth_info(caller, credential)
    return result


def _pem_body(pem: str) -> str:
    return "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))


class CredentialInfoOut(Open):
    key: dict[str, Any]
    cert: dict[str, Any]
    multisign: int
    auth: dict[str, Any] | None = None


class ListOut(Open):
    credentialIDs: list[str]
    credentialInfos: list[CredentialInfoOut] | None = None


@api.post("/credentials/list", response={200: ListOut, **ERRORS})
def credentials_list(request: HttpRequest, body: ListIn) -> HttpResponse:
    caller = _caller(request)
    credentials = callers.credentials_of(caller)
    infos = [
        _credential_info(
            credential, caller, certificates=body.certificates, cert_info=body.certInfo, auth_info=body.authInfo
        )
        for credential in credentials
        if body.credentialInfo or body.onlyValid
    ]
    if body.onlyValid:
        usable = {info["credentialID"] for info in infos if info["key"]["status"] == "enabled"}
        credentials = [credential for credential in credentials if credential.service_no in usable]
        infos = [info for info in infos if info["credentialID"] in usable]
    result: dict[str, Any] = {"credentialIDs": [credential.service_no for credential in credentials]}
    if body.credentialInfo:
        result["credentialInfos"] = infos
    if body.onlyValid:
        result["onlyValid"] = True
    return _ok(request, result)


@api.post("/credentials/info", response={200: CredentialInfoOut, **ERRORS})
def credentials_info(request: HttpRequest, body: InfoIn) -> HttpResponse:
    caller = _caller(request)
    credential = callers.credential_for(caller, body.credentialID)
    info = _credential_info(
        credential, caller, certificates=body.certificates, cert_info=body.certInfo, auth_info=body.authInfo
    )
    return _ok(request, info)


class AuthData(Schema):
    id: str = Field(max_length=10)
    value: str | None = Field(None, max_length=64)  # none: an out-of-band object (the phone)


# CSC 1.0.4 names, still sent by clients in the field (pyHanko's among them), accepted beside v2's own: ``hash`` for
# ``hashes``, ``hashAlgo`` for ``hashAlgorithmOID``, and in authorize a top-level ``PIN`` for the authData PIN.
def _either(v2: Any, v1: Any, names: tuple[str, str]) -> Any:
    if v2 is not None and v1 is not None and v2 != v1:
        raise _invalid(f"Parameters {names[0]} and {names[1]} (its CSC 1.0 name) differ; send one")
    return v2 if v2 is not None else v1


def _hashes(hashes: list[str] | None, hash_: list[str] | None) -> list[str]:
    values = _either(hashes, hash_, ("hashes", "hash"))
    if values is None:
        raise _invalid("Missing (or invalid type) array parameter hashes")
    if not values:
        raise _invalid("Empty hash array")
    return list(values)


HashList = Annotated[list[Annotated[str, Field(max_length=200)]], Field(max_length=keyuse.MAX_HASHES)]
ENVELOPE_MAX = 1_000_000  # base64 characters of an envelope credentials/decrypt opens
AUTHORIZE_ENVELOPE_MAX = 87_384  # base64 of 64 KiB: what authorize keeps with the request (a header, content detached)


class AuthorizeIn(Schema):
    credentialID: str = Field(max_length=40)
    numSignatures: int = Field(ge=-(2**31), le=2**31)  # its range is checked with CSC's wording
    hashes: HashList | None = None
    hash: HashList | None = None  # CSC 1.0
    hashAlgorithmOID: str | None = Field(None, max_length=64)  # none: the credential's key profile's
    hashAlgo: str | None = Field(None, max_length=64)  # CSC 1.0
    authData: list[AuthData] | None = Field(None, max_length=4)
    PIN: str | None = Field(None, max_length=64)  # CSC 1.0
    description: str = Field("", max_length=500)
    clientData: str | None = Field(None, max_length=2000)
    # ours: what the phone shows the claimant, which operation the SAD is for, and the envelope a decryption opens
    operation: str = Field(
        "sign",
        max_length=10,
        description='An extension: "sign" (CSC\'s signHash, the default) or "decrypt" (our credentials/decrypt, '
        "one hash: the base64 SHA-256 of the envelope).",
    )
    fileName: str = Field("", max_length=200, description="An extension: the file's name the phone shows.")
    envelope: str | None = Field(
        None,
        max_length=AUTHORIZE_ENVELOPE_MAX,
        description="An extension, with operation decrypt only: the base64 DER envelope credentials/decrypt will "
        "open (as there: CMS EnvelopedData or AuthEnvelopedData with the content detached, for an SM2 credential the "
        "GB/T 35275 header; at most 64 KiB); its "
        "SHA-256 must be the one hash. With it the authorisation is for the key the envelope is sealed for, the "
        "current encryption key or one kept from before a renewal; a credential whose key the phone shares "
        "(two-party SM2) requires it (else envelope_needed).",
    )


class SadOut(Schema):
    SAD: str
    expiresIn: int


class HandleOut(Open):
    handle: str
    expiresIn: int


@sensitive_variables()
def _pin_of(body: AuthorizeIn, caller: callers.Caller) -> str | None:
    """The PIN the request carries (authData's PIN object or CSC 1.0's ``PIN``), or None: approval on the phone. Only
    the claimant's own tool may send one; other objects must be the ones ``credentials/info`` lists."""
    objects = body.authData or []
    unknown = [item.id for item in objects if item.id not in ("PIN", "PHONE")]
    if unknown:
        raise _invalid(f"Invalid parameter authData: unknown authentication object {unknown[0]}")
    pin_objects = [item for item in objects if item.id == "PIN"]
    if (pin_objects or body.PIN is not None) and caller.kind != "token":
        raise _invalid(
            "Invalid parameter authData: a platform never sends the PIN; omit it (or send the object PHONE) and the "
            "claimant approves on the phone (202 and a handle for credentials/authorizeCheck)"
        )
    if len(pin_objects) > 1:
        raise _invalid("Invalid parameter authData: the PIN object is repeated")
    if pin_objects and pin_objects[0].value is None:
        raise _invalid("Invalid parameter authData: the PIN object has no value")
    pin = _either(pin_objects[0].value if pin_objects else None, body.PIN, ("authData PIN", "PIN"))
    return str(pin) if pin is not None else None


def _envelope_of(body: AuthorizeIn) -> bytes:
    """The envelope a decryption's authorisation names (ours), decoded, or b"" when none is sent."""
    if body.envelope is None:
        return b""
    if body.operation != "decrypt":
        raise _invalid("Invalid parameter envelope: it comes with operation decrypt only")
    try:
        envelope = base64.b64decode(body.envelope, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("Invalid parameter envelope: it must be base64") from None
    if not envelope:
        raise _invalid("Invalid parameter envelope: it is empty")
    return envelope


@api.post("/credentials/authorize", response={200: SadOut, 202: HandleOut, **ERRORS})
def credentials_authorize(request: HttpRequest, body: AuthorizeIn) -> HttpResponse:
    caller = _service_caller(request)
    hashes = _hashes(body.hashes, body.hash)
    hash_algorithm = _either(body.hashAlgorithmOID, body.hashAlgo, ("hashAlgorithmOID", "hashAlgo")) or ""
    pin = _pin_of(body, caller)
    envelope = _envelope_of(body)
    if body.numSignatures < 1:
        raise _invalid("Invalid value for parameter numSignatures")
    if body.numSignatures > keyuse.MAX_HASHES:
        raise _invalid(f"Numbers of signatures is too high (multisign is {keyuse.MAX_HASHES})")
    if body.numSignatures != len(hashes):
        raise _invalid("Invalid value for parameter numSignatures: it must equal the number of hashes")
    profile = keyuse.key_profile_of(callers.credential_for(caller, body.credentialID))
    if hash_algorithm not in ("", profile.hash_oid):
        raise _invalid(f"Invalid parameter hashAlgorithmOID: this credential signs {profile.hash_oid} digests")
    if pin is None:  # a request the phone must answer: a pending row and a notice to the claimant, per caller bounded
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
        hashes=hashes,
        pin=pin,
        purpose=body.description,
        file_name=body.fileName,
        address=client_address(request),
        document=keyuse.Document(envelope=envelope) if envelope else None,
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


@api.post("/credentials/authorizeCheck", response={200: SadOut, 202: HandleOut, **ERRORS})
def credentials_authorize_check(request: HttpRequest, body: CheckIn) -> HttpResponse:
    result = keyuse.authorize_check(caller=_service_caller(request), handle=body.handle)
    if result.status == "pending":  # CSC §11.7: 202 with the handle to poll again
        return api.create_response(request, {"handle": body.handle, "expiresIn": result.expires_in}, status=202)
    return api.create_response(request, {"SAD": result.sad, "expiresIn": result.expires_in}, status=200)


class SignHashIn(Schema):
    credentialID: str = Field(max_length=40)
    SAD: str | None = Field(None, max_length=100)  # none: the bearer token's own (a credential-scope token)
    hashes: HashList | None = None
    hash: HashList | None = None  # CSC 1.0
    hashAlgorithmOID: str | None = Field(None, max_length=64)  # implied by signAlgo for every algorithm offered
    hashAlgo: str | None = Field(None, max_length=64)  # CSC 1.0
    signAlgo: str | None = Field(None, max_length=64)
    signAlgoParams: str | None = Field(None, max_length=1000)
    operationMode: str | None = Field(None, max_length=1)
    clientData: str | None = Field(None, max_length=2000)


class SignaturesOut(Schema):
    signatures: list[str]


@api.post("/signatures/signHash", response={200: SignaturesOut, **ERRORS})
def signatures_sign_hash(request: HttpRequest, body: SignHashIn) -> HttpResponse:
    caller = _caller(request)
    hashes = _hashes(body.hashes, body.hash)
    hash_algorithm = _either(body.hashAlgorithmOID, body.hashAlgo, ("hashAlgorithmOID", "hashAlgo")) or ""
    if not body.signAlgo:
        raise _invalid("Missing (or invalid type) string parameter signAlgo")
    if body.operationMode not in (None, "S"):
        raise _invalid("Invalid parameter operationMode: only synchronous signing (S) is offered")
    sad = body.SAD or caller.sad
    if not sad:
        raise _invalid("Missing (or invalid type) string parameter SAD")
    signatures = keyuse.sign_hashes(
        caller=caller,
        credential_id=body.credentialID,
        sad=sad,
        hashes=hashes,
        hash_algorithm=hash_algorithm,
        sign_algorithm=body.signAlgo,
        sign_algorithm_params=body.signAlgoParams or "",
        address=client_address(request),
    )
    return _ok(request, {"signatures": [base64.b64encode(signature).decode() for signature in signatures]})


class DecryptIn(Schema):
    credentialID: str = Field(max_length=40)
    SAD: str = Field(max_length=100)
    # base64 DER ContentInfo (the .p7m header, not the content): RFC 5652 for ECDSA and RSA credentials, GB/T 35275
    # (SM2 key transport, SM4) for SM2 credentials
    envelope: str = Field(max_length=ENVELOPE_MAX)


class ContentKeyOut(Schema):
    contentKey: str
    contentEncryptionAlgorithmOID: str


@api.post(
    "/credentials/decrypt",
    response={200: ContentKeyOut, **ERRORS},
    tags=["x-mobileca (not CSC)"],
    summary="The content key of one CMS envelope (an extension, not part of CSC API v2)",
    description=(
        'The SAD comes from `credentials/authorize` with `operation` "decrypt" and one hash, the base64 SHA-256 '
        "of this `envelope` (base64 DER: CMS EnvelopedData or AuthEnvelopedData, for an SM2 credential the GB/T "
        "35275 header, the ciphertext detached). Send the envelope with that request too (`envelope`): then the "
        "authorisation is for the key it is sealed for, which opens an envelope sealed before a renewal with the "
        "encryption key kept from then (the operation record says so); a two-party SM2 credential takes no "
        "decryption request without it. An envelope not addressed to the credential is refused "
        "(`not_a_recipient`) before the SAD is spent; the content key is returned once the decryption is recorded."
    ),
)
def credentials_decrypt(request: HttpRequest, body: DecryptIn) -> HttpResponse:
    try:
        envelope = base64.b64decode(body.envelope, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("envelope must be base64", code="invalid_request") from None
    key = keyuse.decrypt_envelope(
        caller=_service_caller(request),
        credential_id=body.credentialID,
        sad=body.SAD,
        envelope=envelope,
        address=client_address(request),
    )
    return _ok(
        request,
        {
            "contentKey": base64.b64encode(key.key).decode(),
            "contentEncryptionAlgorithmOID": key.content_encryption_algorithm,
        },
    )


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


class RecordsOut(Open):
    account: str
    sth: dict[str, Any] | None
    operations: list[dict[str, Any]]
    next: int | None


@api.get(
    "/x-mobileca/records",
    response={200: RecordsOut, 403: ErrorOut, 404: ErrorOut, **ERRORS},
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
def x_mobileca_records(request: HttpRequest, query: Query[RecordsQuery]) -> HttpResponse:
    caller = _service_caller(request)
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
    return _ok(
        request,
        {
            "account": caller.ident,
            "sth": proofs.tree_head_json(head) if head is not None else None,
            "operations": [_record_entry(record, paths, tree_size) for record in page],
            "next": page[-1].pk if more else None,
        },
    )
