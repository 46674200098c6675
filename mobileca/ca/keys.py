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

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from mobileca.ca import sm2

if TYPE_CHECKING:
    from mobileca.ca.backends import KeyBackend

UserPrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | sm2.Sm2PrivateKey
UserPublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | sm2.Sm2PublicKey
X509PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey  # what ``cryptography`` certifies (``profiles``)

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
    family: str  # "ec" | "rsa" | "sm2"
    curve: str  # "secp256r1" for EC profiles, "sm2" for SM2, "" otherwise
    key_size: int  # bits
    hash_oid: str
    signature_oid: str  # the CSC signAlgo / X.509 AlgorithmIdentifier of signatures made with this key
    cms_signature_algorithm: str  # the same in asn1crypto's names, for SignedData
    # How the encryption certificate's key protects a content key (its X.509 key usage): ECDH key agreement, or
    # RSA key transport (key encipherment).
    key_agreement: bool = False
    curve_oid: str = ""  # the named curve's OID (what CSC ``credentials/info`` reports as ``key.curve``)
    # Other signatureAlgorithm OIDs readers accept for this profile's signatures (SM2-1 301.1 beside SM3withSM2).
    also_accepted_signature_oids: frozenset[str] = frozenset()

    def generate(self) -> UserPrivateKey:
        if self.family == "sm2":
            return sm2.generate()
        if self.family == "ec":
            return ec.generate_private_key(ec.SECP256R1())
        return rsa.generate_private_key(public_exponent=65537, key_size=self.key_size)

    def matches(self, public_key: object) -> bool:
        """Whether a key is of this profile (algorithm and curve or size)."""
        if self.family == "sm2":
            return isinstance(public_key, sm2.Sm2PublicKey)
        if self.family == "ec":
            return isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == self.curve
        return isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == self.key_size

    def accepts_signature_algorithm(self, oid: str) -> bool:
        """Whether a signature that names ``oid`` (a CMS SignerInfo's signatureAlgorithm) is of this profile."""
        return (
            oid == self.signature_oid
            or oid in self.also_accepted_signature_oids
            or (self.family == "rsa" and oid == RSA_ENCRYPTION_OID)
        )

    def verify(self, public_key: object, signature: bytes, data: bytes) -> None:
        """Verify a signature over ``data`` made with this profile's key; raises ``InvalidSignature``. SM2
        signatures are SM3withSM2 with the ID 1234567812345678 (GM/T 0009)."""
        if not self.matches(public_key):
            raise UnknownKeyProfile(f"the key is not of profile {self.name}")
        if isinstance(public_key, sm2.Sm2PublicKey):
            if not public_key.verify(signature, data):
                raise InvalidSignature
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
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
    curve_oid="1.2.840.10045.3.1.7",
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
# The national algorithms (issue 19): SM2 keys on the GB/T 32918.5 curve, SM3withSM2 signatures with the ID
# 1234567812345678, SM2 key transport (GM/T 0009 SM2Cipher) for the encryption certificate. Certificates, CRLs and
# OCSP answers of this profile come from the SM2 hierarchy (``ca.gm``), bid files from ``cmslib.gm``.
SM2_SM3 = KeyProfile(
    name="sm2",
    family="sm2",
    curve="sm2",
    key_size=256,
    hash_oid=sm2.SM3_OID,
    signature_oid=sm2.SM2_SM3_SIGNATURE_OID,
    cms_signature_algorithm="sm2_sm3",
    curve_oid=sm2.SM2_CURVE_OID,
    also_accepted_signature_oids=frozenset({"1.2.156.10197.1.301.1"}),
)
KEY_PROFILES: dict[str, KeyProfile] = {profile.name: profile for profile in (EC_P256, RSA_2048, SM2_SM3)}
DEFAULT_KEY_PROFILE = EC_P256  # of a credential made without naming one; new claims take MOBILECA_KEY_PROFILE


def key_profile(name: str) -> KeyProfile:
    """The profile a credential names; an unknown name is a programming or data error, not user input."""
    try:
        return KEY_PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown key profile {name!r}") from None


def profile_of_public_key(public_key: object) -> KeyProfile:
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
    if isinstance(key, sm2.Sm2PrivateKey):
        return wrap_sm2_private_key(owner_id=owner_id, key=key, key_backend=key_backend)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return _backend(key_backend).wrap(owner_id, der)


def unwrap_private_key(
    *, owner_id: str, blob: bytes, key_backend: KeyBackend | None = None
) -> PrivateKeyTypes | sm2.Sm2PrivateKey:
    """The key a blob seals for ``owner_id``, of whatever profile: an ``sm2.Sm2PrivateKey`` for a key on the SM2
    curve (which ``cryptography`` does not load), a ``cryptography`` key otherwise."""
    der = _backend(key_backend).unwrap(owner_id, blob)
    try:
        return serialization.load_der_private_key(der, password=None)
    except UnsupportedAlgorithm:
        return sm2.Sm2PrivateKey(der)


def public_key_of_certificate(certificate_der: bytes) -> PublicKeyTypes | sm2.Sm2PublicKey:
    """A certificate's public key, of whatever profile (``cryptography`` cannot load a key on the SM2 curve)."""
    from cryptography import x509

    certificate = x509.load_der_x509_certificate(certificate_der)
    try:
        return certificate.public_key()
    except UnsupportedAlgorithm:
        from asn1crypto import x509 as asn1_x509

        spki = asn1_x509.Certificate.load(certificate_der)["tbs_certificate"]["subject_public_key_info"]
        return sm2.Sm2PublicKey(spki.dump())


def wrap_sm2_private_key(*, owner_id: str, key: sm2.Sm2PrivateKey, key_backend: KeyBackend | None = None) -> bytes:
    """An SM2 user key sealed like the others: its PKCS#8 DER under the master key, the owner id as associated data."""
    return _backend(key_backend).wrap(owner_id, key.der)


def unwrap_sm2_private_key(*, owner_id: str, blob: bytes, key_backend: KeyBackend | None = None) -> sm2.Sm2PrivateKey:
    """The SM2 key a blob seals for ``owner_id``: ``UnwrapError`` for another owner or a tampered blob, ``Sm2Error``
    if what it seals is not an SM2 key (e.g. a P-256 key's blob). The blob is authenticated (AES-GCM under the
    master key) and holds what ``wrap_sm2_private_key`` sealed, so the cheap checks of ``Sm2PrivateKey`` suffice."""
    return sm2.Sm2PrivateKey(_backend(key_backend).unwrap(owner_id, blob))
