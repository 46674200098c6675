"""The business registry: an enterprise's record by unified social credit code, its answer signed by the registry."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings

from mobileca.core.errors import FinalGatewayError, RetryableGatewayError


@dataclass(frozen=True)
class RegistryRecord:
    uscc: str
    name: str
    legal_representative: str
    legal_representative_id: str = field(repr=False)
    legal_representative_phone: str = field(repr=False)
    status: str


def http_client() -> httpx.Client:
    """How the signing service reaches the registry. Tests replace it with an in-process transport."""
    return httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))


def lookup(uscc: str) -> RegistryRecord | None:
    conf = settings.MOBILECA_REGISTRY
    try:
        with http_client() as client:
            response = client.get(f"{conf['base_url']}/v1/enterprises/{uscc}")
    except httpx.TransportError as exc:
        raise RetryableGatewayError(f"registry unreachable: {exc!r}") from exc
    public_key = serialization.load_pem_public_key(Path(conf["public_key_path"]).read_bytes())
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise FinalGatewayError("registry key is not RSA")
    try:
        signature = base64.b64decode(response.headers.get("X-Registry-Signature", ""), validate=True)
        public_key.verify(signature, response.content, padding.PKCS1v15(), hashes.SHA256())
        data = json.loads(response.content)
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise FinalGatewayError("registry answer does not verify") from exc
    if response.status_code == 404 or not data.get("found"):
        return None
    if data.get("uscc") != uscc:
        raise FinalGatewayError("registry answered about another enterprise")
    return RegistryRecord(
        uscc=uscc,
        name=str(data["name"]),
        legal_representative=str(data["legal_representative"]),
        legal_representative_id=str(data["legal_representative_id"]),
        legal_representative_phone=str(data["legal_representative_phone"]),
        status=str(data["status"]),
    )
