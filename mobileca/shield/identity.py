"""The phone identity (the Alipay account) of whoever scans: an authorisation code, exchanged server to server for
an assertion signed by the identity provider and bound to our nonce. Base URLs and keys from settings only."""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings

from mobileca.core.errors import FinalGatewayError, RetryableGatewayError

ASSERTION_MAX_AGE_SECONDS = 300


class IdentityRefused(FinalGatewayError):
    """The provider's answer does not prove who scanned (bad signature, wrong audience or nonce, stale)."""


@dataclass(frozen=True)
class PhoneIdentity:
    account: str
    name: str
    resident_id: str = field(repr=False)
    phone: str = field(repr=False)


def http_client() -> httpx.Client:
    """How the signing service reaches the identity provider. Tests replace it with an in-process transport."""
    return httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))


def authorize_url(*, state: str, nonce: str) -> str:
    conf = settings.MOBILECA_IDENTITY
    query = {"client_id": conf["client_id"], "redirect_uri": conf["callback_url"], "state": state, "nonce": nonce}
    return f"{conf['authorize_url']}?{urlencode(query)}"


def exchange(*, code: str, nonce: str) -> PhoneIdentity:
    conf = settings.MOBILECA_IDENTITY
    try:
        with http_client() as client:
            response = client.post(
                conf["token_url"],
                data={
                    "client_id": conf["client_id"],
                    "client_secret": Path(conf["client_secret_path"]).read_text().strip(),
                    "code": code,
                    "redirect_uri": conf["callback_url"],
                },
            )
    except httpx.TransportError as exc:
        raise RetryableGatewayError(f"identity provider unreachable: {exc!r}") from exc
    if response.status_code != 200:
        raise IdentityRefused(f"token endpoint said {response.status_code}: {response.text[:100]}")
    try:
        body = response.json()
    except ValueError as exc:
        raise IdentityRefused("token endpoint answered no JSON") from exc
    return verify_assertion(
        assertion=str(body.get("assertion", "")), signature=str(body.get("signature", "")), nonce=nonce
    )


def verify_assertion(*, assertion: str, signature: str, nonce: str) -> PhoneIdentity:
    conf = settings.MOBILECA_IDENTITY
    public_key = serialization.load_pem_public_key(Path(conf["public_key_path"]).read_bytes())
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise IdentityRefused("identity provider key is not RSA")
    try:
        public_key.verify(
            base64.b64decode(signature, validate=True), assertion.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        claims = json.loads(base64.urlsafe_b64decode(assertion + "=" * (-len(assertion) % 4)))
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise IdentityRefused("assertion does not verify") from exc
    if claims.get("aud") != conf["client_id"] or claims.get("nonce") != nonce:
        raise IdentityRefused("assertion for another client or another login")
    if abs(time.time() - int(claims.get("iat", 0))) > ASSERTION_MAX_AGE_SECONDS:
        raise IdentityRefused("stale assertion")
    return PhoneIdentity(
        account=str(claims["sub"]),
        name=str(claims["name"]),
        resident_id=str(claims["resident_id"]),
        phone=str(claims["phone"]),
    )
