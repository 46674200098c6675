"""Key profiles, and user key pairs (the signing service's) wrapped under the CA back-end's master key.

A ``KeyProfile`` is everything that depends on a credential's key algorithm, in one object: how its keys are made,
which certificate key usage its encryption certificate gets, which OIDs its signatures carry and how they verify.
Every other module asks the profile (``key_profile(name)`` for a credential's stored name,
``profile_of_public_key`` for a certificate's key) instead of testing for an algorithm itself. This module imports
no Django at load time, so the CMS library and the command-line tool can use the profiles too.

The private key is serialised (PKCS#8 DER) only to be sealed with AES-256-GCM, the owner id as associated data, and
only exists in plaintext in memory while one operation runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from mobileca.ca import sm2

if TYPE_CHECKING:
    from mobileca.ca.backends import KeyBackend

UserPrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
UserPublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

SHA256_OID = "2.16.840.1.101.3.4.2.1"
RSA_ENCRYPTION_OID = "1.2.840.113549.1.1.1"  # what RFC 3370 §3.2 lets an RSA SignerInfo name instead


class UnknownKeyProfile(ValueError):
    """A key of no profile this platform issues (another curve, another size, another algorithm)."""


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
    # How the encryption certificate's key protects a content key (its X.509 key usage): ECDH key agreement, or
    # RSA key transport (key encipherment).
    key_agreement: bool = False

    def generate(self) -> UserPrivateKey:
        if self.family == "ec":
            return ec.generate_private_key(ec.SECP256R1())
        return rsa.generate_private_key(public_exponent=65537, key_size=self.key_size)

    def matches(self, public_key: PublicKeyTypes) -> bool:
        """Whether a key is of this profile (algorithm and curve or size)."""
        if self.family == "ec":
            return isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == self.curve
        return isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == self.key_size

    def accepts_signature_algorithm(self, oid: str) -> bool:
        """Whether a signature that names ``oid`` (a CMS SignerInfo's signatureAlgorithm) is of this profile."""
        return oid == self.signature_oid or (self.family == "rsa" and oid == RSA_ENCRYPTION_OID)

    def verify(self, public_key: PublicKeyTypes, signature: bytes, data: bytes) -> None:
        """Verify a signature over ``data`` made with this profile's key; raises ``InvalidSignature``."""
        if not self.matches(public_key):
            raise UnknownKeyProfile(f"the key is not of profile {self.name}")
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


EC_P256 = KeyProfile(
    name="ec-p256",
    family="ec",
    curve="secp256r1",
    key_size=256,
    hash_oid=SHA256_OID,
    signature_oid="1.2.840.10045.4.3.2",  # ecdsa-with-SHA256
    cms_signature_algorithm="sha256_ecdsa",
    key_agreement=True,
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


def profile_of_public_key(public_key: PublicKeyTypes) -> KeyProfile:
    """The profile a key (e.g. a certificate's) belongs to; ``UnknownKeyProfile`` for a key we never issue."""
    for profile in KEY_PROFILES.values():
        if profile.matches(public_key):
            return profile
    raise UnknownKeyProfile(f"no key profile for a {type(public_key).__name__}")


def generate_user_key(profile: KeyProfile = DEFAULT_KEY_PROFILE) -> UserPrivateKey:
    return profile.generate()


def _backend(key_backend: KeyBackend | None) -> KeyBackend:
    from mobileca.ca.backends.factory import backend as configured_backend  # Django settings: only when used

    return key_backend or configured_backend()


def wrap_private_key(*, owner_id: str, key: UserPrivateKey, key_backend: KeyBackend | None = None) -> bytes:
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return _backend(key_backend).wrap(owner_id, der)


def unwrap_private_key(*, owner_id: str, blob: bytes, key_backend: KeyBackend | None = None) -> PrivateKeyTypes:
    der = _backend(key_backend).unwrap(owner_id, blob)
    return serialization.load_der_private_key(der, password=None)


def wrap_sm2_private_key(*, owner_id: str, key: sm2.Sm2PrivateKey, key_backend: KeyBackend | None = None) -> bytes:
    """An SM2 user key sealed like the others: its PKCS#8 DER under the master key, the owner id as associated data."""
    return _backend(key_backend).wrap(owner_id, key.der)


def unwrap_sm2_private_key(*, owner_id: str, blob: bytes, key_backend: KeyBackend | None = None) -> sm2.Sm2PrivateKey:
    """The SM2 key a blob seals for ``owner_id``: ``UnwrapError`` for another owner or a tampered blob, ``Sm2Error``
    if what it seals is not an SM2 key (e.g. a P-256 key's blob). The blob is authenticated (AES-GCM under the
    master key) and holds what ``wrap_sm2_private_key`` sealed, so the cheap checks of ``Sm2PrivateKey`` suffice."""
    return sm2.Sm2PrivateKey(_backend(key_backend).unwrap(owner_id, blob))
