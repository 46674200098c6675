"""The remote-signing API under ``/csc/v2/``, modelled on the Cloud Signature Consortium API v2 (R4.5, R4.6):
``info``, ``credentials/list``, ``credentials/info``, ``credentials/authorize`` (+ ``authorizeCheck``),
``signatures/signHash``, and our own ``credentials/decrypt`` (CSC has no decryption). Plus the device login of the
command-line tool (``oauth2/device``, ``oauth2/token``, RFC 8628).

Errors are the CSC/OAuth shape: ``{"error": code, "error_description": message}`` with an HTTP status."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, ValidationError
from ninja.security import HttpBearer
from pydantic import Field

from mobileca.ca import facade as ca_facade
from mobileca.ca.facade import KeyBackendError
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, InvalidInput
from mobileca.core.http import client_address
from mobileca.shield import callers, keyuse
from mobileca.shield.models import Credential


class Bearer(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> callers.Caller | None:
        return callers.caller_for_bearer(token)


api = NinjaAPI(
    title="e签盾 remote signing (CSC API v2 profile)",
    version="2.0.0.2",
    urls_namespace="csc",
    auth=Bearer(),
    docs_url="/docs",
)


def _error(request: HttpRequest, code: str, description: str, status: int) -> HttpResponse:
    return api.create_response(request, {"error": code, "error_description": description}, status=status)


@api.exception_handler(ApplicationError)
def _application_error(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    return _error(request, exc.code, exc.message, exc.status)


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
    "oauth2/device",
    "oauth2/token",
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


# --- the tool's device login (RFC 8628) -----------------------------------------------------------------------


class DeviceIn(Schema):
    client_name: str = Field("mobileca", max_length=60)


@api.post("/oauth2/device", auth=None)
def oauth2_device(request: HttpRequest, body: DeviceIn) -> dict[str, Any]:
    start = callers.device_start(client_name=body.client_name)
    return {
        "device_code": start.device_code,
        "user_code": start.user_code,
        "verification_uri": start.verification_uri,
        "verification_uri_complete": start.verification_uri_complete,
        "expires_in": start.expires_in,
        "interval": start.interval,
    }


class TokenIn(Schema):
    grant_type: str
    device_code: str = Field(max_length=80)


@api.post("/oauth2/token", auth=None)
def oauth2_token(request: HttpRequest, body: TokenIn) -> HttpResponse:
    if body.grant_type != "urn:ietf:params:oauth:grant-type:device_code":
        return _error(request, "unsupported_grant_type", "only the device-code grant is offered", 400)
    token, expires_in = callers.device_token(device_code=body.device_code)
    return api.create_response(
        request, {"access_token": token, "token_type": "Bearer", "expires_in": expires_in}, status=200
    )
