"""User key pairs (the signing service's), wrapped under the CA back-end's master key.

The private key is serialised (PKCS#8 DER) only to be sealed with AES-256-GCM, the owner id as associated data, and
only exists in plaintext in memory while one operation runs.
"""

from __future__ import annotations

from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from mobileca.ca.backends import KeyBackend
from mobileca.ca.backends.factory import backend as configured_backend

Algorithm = Literal["ec-p256", "rsa-2048"]
UserPrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def generate_user_key(algorithm: Algorithm = "ec-p256") -> UserPrivateKey:
    if algorithm == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "rsa-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key algorithm {algorithm!r}")


def wrap_private_key(*, owner_id: str, key: UserPrivateKey, key_backend: KeyBackend | None = None) -> bytes:
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return (key_backend or configured_backend()).wrap(owner_id, der)


def unwrap_private_key(*, owner_id: str, blob: bytes, key_backend: KeyBackend | None = None) -> PrivateKeyTypes:
    der = (key_backend or configured_backend()).unwrap(owner_id, blob)
    return serialization.load_der_private_key(der, password=None)
