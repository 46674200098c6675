"""SHA256withRSA (PKCS#1 v1.5) signatures and AES-256-GCM decryption, the only primitives both gateways use."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.views.decorators.debug import sensitive_variables

from mobileca.core.errors import FinalGatewayError


class SignatureInvalid(FinalGatewayError):
    """A message from (or to) a gateway does not verify. The reason is for the log only."""


class StaleMessage(SignatureInvalid):
    """A message signed outside the gateway's time window (a replay, or a sender's clock far off)."""


class MalformedMessage(FinalGatewayError):
    """A message that verifies but whose content is not what the gateway documents (a field of the wrong type or
    past its documented length, NUL, JSON nested past the bound). The reason is for the log only."""


class BadAmount(MalformedMessage):
    """An amount not written exactly as the gateway documents it (Alipay: ``Number(9,2)``; WeChat Pay: an integer
    of fen)."""


@lru_cache(maxsize=32)
@sensitive_variables()  # a key (or what it signs with) is among the locals
def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("an RSA private key is required")
    return key


@lru_cache(maxsize=32)
def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("an RSA public key is required")
    return key


@sensitive_variables()  # a key (or what it signs with) is among the locals
def rsa_sign(private_key_pem: bytes, message: bytes) -> str:
    signature = load_private_key(private_key_pem).sign(message, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def rsa_verify(public_key_pem: bytes, message: bytes, signature_b64: str) -> None:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        load_public_key(public_key_pem).verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise SignatureInvalid("signature does not verify") from exc


@sensitive_variables()  # a key (or what it signs with) is among the locals
def aes_gcm_decrypt(key: bytes, nonce: str, associated_data: str, ciphertext_b64: str) -> bytes:
    try:
        return AESGCM(key).decrypt(nonce.encode(), base64.b64decode(ciphertext_b64), associated_data.encode())
    except (InvalidTag, binascii.Error, ValueError) as exc:
        raise SignatureInvalid("resource does not decrypt") from exc
