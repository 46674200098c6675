"""Demo credentials for the payment sandboxes: both sides' RSA-2048 key pairs and the WeChat APIv3 key.

In production the merchant keys come from the gateways' consoles and the gateways' keys are theirs; this only makes
the embedded default (and the tests) self-contained.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PAIRS = (
    "alipay_app",
    "alipay_gateway",
    "wechatpay_merchant",
    "wechatpay_platform",
    "identity_provider",
    "registry",
    "liveness",
)
APIV3_KEY_FILE = "wechatpay_apiv3.key"
IDENTITY_SECRET_FILE = "identity_client_secret.txt"  # noqa: S105 - a file name
LIVENESS_SECRET_FILE = "liveness_client_secret.txt"  # noqa: S105 - a file name
SMS_SECRET_FILE = "sms_client_secret.txt"  # noqa: S105 - a file name
BANK_SECRET_FILE = "bank_client_secret.txt"  # noqa: S105 - a file name


def ensure_keys(directory: Path) -> Path:
    """Create any missing key files in ``directory`` (private keys 0600). Idempotent."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in PAIRS:
        private_path, public_path = directory / f"{name}_private.pem", directory / f"{name}_public.pem"
        if private_path.exists() and public_path.exists():
            continue
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        private_path.chmod(0o600)
        public_path.write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    apiv3 = directory / APIV3_KEY_FILE
    if not apiv3.exists():
        apiv3.write_text(secrets.token_hex(16))  # 32 characters, as WeChat's APIv3 key
        apiv3.chmod(0o600)
    for name in (IDENTITY_SECRET_FILE, LIVENESS_SECRET_FILE, SMS_SECRET_FILE, BANK_SECRET_FILE):
        secret = directory / name
        if not secret.exists():
            secret.write_text(secrets.token_urlsafe(24))
            secret.chmod(0o600)
    return directory
