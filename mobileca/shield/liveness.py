"""Face liveness: a check opened server to server for a person, played on the phone, its result fetched signed."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings

from mobileca.core.errors import FinalGatewayError, RetryableGatewayError


@dataclass(frozen=True)
class OpenedCheck:
    check_id: str
    url: str


def http_client() -> httpx.Client:
    """How the signing service reaches the liveness provider. Tests replace it with an in-process transport."""
    return httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))


def _headers() -> dict[str, str]:
    secret = Path(settings.MOBILECA_LIVENESS["client_secret_path"]).read_text().strip()
    return {"Authorization": f"Bearer {secret}"}


def open_check(*, name: str, resident_id: str, nonce: str) -> OpenedCheck:
    conf = settings.MOBILECA_LIVENESS
    try:
        with http_client() as client:
            response = client.post(
                f"{conf['base_url']}/v1/checks",
                json={"name": name, "resident_id": resident_id, "nonce": nonce, "return_url": conf["return_url"]},
                headers=_headers(),
            )
    except httpx.TransportError as exc:
        raise RetryableGatewayError(f"liveness provider unreachable: {exc!r}") from exc
    if response.status_code != 200:
        raise FinalGatewayError(f"liveness provider said {response.status_code}")
    try:
        data = response.json()
        return OpenedCheck(check_id=str(data["check_id"]), url=str(data["url"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise FinalGatewayError("liveness provider answered nonsense") from exc


def fetch_result(*, check_id: str, nonce: str, resident_id: str) -> bool:
    """True only for a signed "passed" about this check, this nonce and this person."""
    conf = settings.MOBILECA_LIVENESS
    try:
        with http_client() as client:
            response = client.get(f"{conf['base_url']}/v1/checks/{check_id}", headers=_headers())
    except httpx.TransportError as exc:
        raise RetryableGatewayError(f"liveness provider unreachable: {exc!r}") from exc
    public_key = serialization.load_pem_public_key(Path(conf["public_key_path"]).read_bytes())
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise FinalGatewayError("liveness key is not RSA")
    try:
        signature = base64.b64decode(response.headers.get("X-Liveness-Signature", ""), validate=True)
        public_key.verify(signature, response.content, padding.PKCS1v15(), hashes.SHA256())
        data = json.loads(response.content)
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise FinalGatewayError("liveness result does not verify") from exc
    return (
        data.get("check_id") == check_id
        and data.get("nonce") == nonce
        and str(data.get("resident_id", "")).upper() == resident_id.upper()
        and data.get("outcome") == "passed"
    )
