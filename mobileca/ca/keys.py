"""User key pairs (the signing service's), wrapped under the CA back-end's master key.

The private key is serialised (PKCS#8 DER) only to be sealed with AES-256-GCM, the owner id as associated data, and
only exists in plaintext in memory while one operation runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from mobileca.ca.backends import KeyBackend
from mobileca.ca.backends.factory import backend as configured_backend

UserPrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

SHA256_OID = "2.16.840.1.101.3.4.2.1"


@dataclass(frozen=True)
class KeyProfile:
    """Everything that depends on a credential's key algorithm, in one object chosen per credential.

    ``name`` is what a credential stores; the OIDs are what the remote-signing API advertises and accepts and what
    CMS signatures carry. A new profile (the national algorithms) is one more instance, not a new branch elsewhere.
    """

    name: str
    family: str  # "ec" | "rsa"
    curve: str  # "secp256r1" for EC profiles, "" otherwise
    key_size: int  # bits
    hash_oid: str
    signature_oid: str  # the CSC signAlgo / X.509 AlgorithmIdentifier of signatures made with this key
    cms_signature_algorithm: str  # the same in asn1crypto's names, for SignedData

    def generate(self) -> UserPrivateKey:
        if self.family == "ec":
            return ec.generate_private_key(ec.SECP256R1())
        return rsa.generate_private_key(public_exponent=65537, key_size=self.key_size)


EC_P256 = KeyProfile(
    name="ec-p256",
    family="ec",
    curve="secp256r1",
    key_size=256,
    hash_oid=SHA256_OID,
    signature_oid="1.2.840.10045.4.3.2",  # ecdsa-with-SHA256
    cms_signature_algorithm="sha256_ecdsa",
)
RSA_2048 = KeyProfile(
    name="rsa-2048",
    family="rsa",
    curve="",
    key_size=2048,
    hash_oid=SHA256_OID,
    signature_oid="1.2.840.113549.1.1.11",  # sha256WithRSAEncryption
    cms_signature_algorithm="sha256_rsa",
)
KEY_PROFILES: dict[str, KeyProfile] = {profile.name: profile for profile in (EC_P256, RSA_2048)}
DEFAULT_KEY_PROFILE = EC_P256


def key_profile(name: str) -> KeyProfile:
    """The profile a credential names; an unknown name is a programming or data error, not user input."""
    try:
        return KEY_PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown key profile {name!r}") from None


def generate_user_key(profile: KeyProfile = DEFAULT_KEY_PROFILE) -> UserPrivateKey:
    return profile.generate()


def wrap_private_key(*, owner_id: str, key: UserPrivateKey, key_backend: KeyBackend | None = None) -> bytes:
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return (key_backend or configured_backend()).wrap(owner_id, der)


def unwrap_private_key(*, owner_id: str, blob: bytes, key_backend: KeyBackend | None = None) -> PrivateKeyTypes:
    der = (key_backend or configured_backend()).unwrap(owner_id, blob)
    return serialization.load_der_private_key(der, password=None)
