"""What the sandboxes share: their own signing code (deliberately not the platform's: a bug shared by the client
and its sandbox would pass unseen), key loading, an HTTP client, and time-scaled retry schedules."""

from __future__ import annotations

import base64
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings


@lru_cache(maxsize=16)
def _private(path: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@lru_cache(maxsize=16)
def _public(path: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(Path(path).read_bytes())
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def sign(private_key_path: str, message: bytes) -> str:
    return base64.b64encode(_private(private_key_path).sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def verify(public_key_path: str, message: bytes, signature_b64: str) -> bool:
    try:
        _public(public_key_path).verify(
            base64.b64decode(signature_b64, validate=True), message, padding.PKCS1v15(), hashes.SHA256()
        )
    except Exception:  # noqa: BLE001 - any failure is "does not verify", as the real gateway answers
        return False
    return True


def http_client() -> httpx.Client:
    """How a sandbox reaches the merchant (notifications). Tests replace it with an in-process transport."""
    return httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))


def scaled(delays_seconds: list[int]) -> list[timedelta]:
    """The real retry schedule, scaled for demos (``SANDBOX_TIME_SCALE``: 1 = real time, 0.01 = 100× faster)."""
    scale = float(getattr(settings, "SANDBOX_TIME_SCALE", 1.0))
    return [timedelta(seconds=max(1.0, delay * scale)) for delay in delays_seconds]
