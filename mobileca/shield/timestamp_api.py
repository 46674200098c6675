"""CSC ``signatures/timestamp`` (CSC API v2.0.0.2 §11.13): an RFC 3161 time-stamp token for a hash, from the
platform's time-stamping authority (``ca/tsa.py``, the same authority as ``/tsa``). Mounted on the CSC API under
``/csc/v2/signatures/``, so it is behind the API's boundary and bearer authentication like every other method.

Input ``hash`` (base64), ``hashAlgo`` (an OID: SHA-256, SHA-384 or SHA-512), optional ``nonce`` (hex) and
``clientData``; output ``{"timestamp": <base64 TimeStampToken>}``. Refusals are 400 ``invalid_request`` with the
descriptions §11.13 lists."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema

from mobileca.ca import facade as ca
from mobileca.shield.csc_common import ERRORS, error_response, parsed_json_body

router = Router(tags=["signatures"])

MAX_NONCE_HEX = 128  # 512 bits: RFC 3161 nonces are 64 bits or so
MAX_HASH_BASE64 = 256  # a SHA-512 digest is 88 characters


def _refused(description: str) -> HttpResponse:
    return error_response("invalid_request", description, 400)


_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["hash", "hashAlgo"],
                "properties": {
                    "hash": {"type": "string", "description": "base64 digest (MessageImprint.hashedMessage)"},
                    "hashAlgo": {"type": "string", "enum": sorted(ca.TIMESTAMP_HASH_OIDS)},
                    "nonce": {"type": "string", "pattern": "^[0-9a-fA-F]{1,128}$"},
                    "clientData": {"type": "string"},
                },
            }
        }
    },
}


class TimestampOut(Schema):
    timestamp: str  # base64 DER TimeStampToken (RFC 3161, RFC 5816)


@router.post("/timestamp", response={200: TimestampOut, **ERRORS}, openapi_extra={"requestBody": _BODY})
def signatures_timestamp(request: HttpRequest) -> Any:
    body = parsed_json_body(request)
    if not isinstance(body, dict):
        body = {}
    digest_b64, algorithm, nonce_hex = body.get("hash"), body.get("hashAlgo"), body.get("nonce")
    if not isinstance(digest_b64, str):
        return _refused("Missing (or invalid type) string parameter hash")
    if not digest_b64:
        return _refused("Empty hash parameter")
    if len(digest_b64) > MAX_HASH_BASE64:
        return _refused("Invalid digest value length")
    try:
        digest = base64.b64decode(digest_b64, validate=True)
    except (binascii.Error, ValueError):
        return _refused("Invalid Base64 hash string parameter")
    if not isinstance(algorithm, str) or algorithm not in ca.TIMESTAMP_HASH_OIDS:
        return _refused("Invalid parameter hashAlgo")
    nonce = None
    if nonce_hex is not None:
        if (
            not isinstance(nonce_hex, str)
            or not 0 < len(nonce_hex) <= MAX_NONCE_HEX
            or any(c not in "0123456789abcdefABCDEF" for c in nonce_hex)
        ):
            return _refused("Invalid parameter nonce")
        nonce = int(nonce_hex, 16)
    if "clientData" in body and not isinstance(body["clientData"], str):
        return _refused("Invalid parameter clientData")
    try:
        token = ca.timestamp(digest=digest, hash_oid=algorithm, nonce=nonce)
    except ca.TimestampRefused as refusal:
        if refusal.failure == "bad_data_format":
            return _refused("Invalid digest value length")
        return _refused("Invalid parameter hashAlgo")
    return {"timestamp": base64.b64encode(token).decode()}
