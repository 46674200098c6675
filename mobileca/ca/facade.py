"""The one way into the CA for other parts: ids and frozen dataclasses in, PEM and verdicts out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from mobileca.ca import profiles, services, sm2_cosign, tsa
from mobileca.ca.backends import KeyBackend, KeyBackendError
from mobileca.ca.backends.factory import backend as key_backend
from mobileca.ca.channel import ChannelVerdict, channel_check
from mobileca.ca.keys import (
    DEFAULT_KEY_PROFILE,
    KEY_PROFILES,
    SM2_SM3,
    KeyProfile,
    UnknownKeyProfile,
    UserPrivateKey,
    UserPublicKey,
    generate_user_key,
    key_profile,
    profile_of_public_key,
    public_key_of_certificate,
    unwrap_private_key,
    wrap_private_key,
)
from mobileca.ca.models import IssuedCertificate
from mobileca.ca.profiles import Subject
from mobileca.ca.sm2 import Sm2Error, Sm2PrivateKey, Sm2PublicKey

# The signing service's user keys are wrapped under the CA back-end's master key: it reaches the key back-end, the
# key profiles and the key wrapping through here, like everything else of the CA.
__all__ = [
    "DEFAULT_KEY_PROFILE",
    "KEY_PROFILES",
    "SM2_SM3",
    "TIMESTAMP_HASH_OIDS",
    "ChannelVerdict",
    "IssuedCredential",
    "KeyBackend",
    "KeyBackendError",
    "KeyProfile",
    "Sm2Error",
    "Sm2PrivateKey",
    "Sm2PublicKey",
    "Subject",
    "TimestampInvalid",
    "TimestampMismatch",
    "TimestampRefused",
    "UnknownKeyProfile",
    "UserPrivateKey",
    "UserPublicKey",
    "channel_check",
    "credential_issue",
    "credential_rekey",
    "credential_revoke",
    "generate_user_key",
    "key_backend",
    "key_profile",
    "profile_of_public_key",
    "public_key_of_certificate",
    "sm2_cosign",
    "timestamp",
    "timestamp_verify",
    "unwrap_bytes",
    "unwrap_private_key",
    "wrap_bytes",
    "wrap_private_key",
]


@dataclass(frozen=True)
class IssuedCredential:
    sign_serial: str
    sign_certificate_pem: str
    encrypt_serial: str
    encrypt_certificate_pem: str
    not_after: datetime


def _pem(record: IssuedCertificate) -> str:
    return services.certificate_of(record).public_bytes(serialization.Encoding.PEM).decode()


def _issued(pair: services.IssuedPair) -> IssuedCredential:
    return IssuedCredential(
        sign_serial=pair.sign.serial_hex,
        sign_certificate_pem=_pem(pair.sign),
        encrypt_serial=pair.encrypt.serial_hex,
        encrypt_certificate_pem=_pem(pair.encrypt),
        not_after=pair.sign.not_after,
    )


PublicKey = UserPublicKey


def credential_issue(
    *, owner_id: str, subject: Subject, sign_public_key: PublicKey, encrypt_public_key: PublicKey, not_after: datetime
) -> IssuedCredential:
    return _issued(
        services.credential_issue(
            owner_id=owner_id,
            subject=subject,
            sign_public_key=sign_public_key,
            encrypt_public_key=encrypt_public_key,
            not_after=not_after,
        )
    )


def credential_rekey(
    *, owner_id: str, subject: Subject, sign_public_key: PublicKey, encrypt_public_key: PublicKey, not_after: datetime
) -> IssuedCredential:
    return _issued(
        services.credential_rekey(
            owner_id=owner_id,
            subject=subject,
            sign_public_key=sign_public_key,
            encrypt_public_key=encrypt_public_key,
            not_after=not_after,
        )
    )


def credential_revoke(*, owner_id: str, reason: x509.ReasonFlags = x509.ReasonFlags.cessation_of_operation) -> int:
    return services.credential_revoke_all(owner_id=owner_id, reason=reason)


@dataclass(frozen=True)
class CertificateInfo:
    """A certificate as a person reads it (issue 18): who holds it, for which enterprise and 统一社会信用代码, what
    it is for, when it is valid, its serial; ``subject`` keeps the distinguished name for those who want it;
    ``algorithm`` names its key's algorithm for the reader ("SM2", "ECDSA P-256", "RSA 2048"; issue 19)."""

    serial_hex: str
    usage: str
    subject: str
    not_before: datetime
    not_after: datetime
    status: str
    holder: str = ""
    enterprise: str = ""
    uscc: str = ""
    algorithm: str = ""


# What a person reads for a key profile (``ca.keys``): the algorithm and, where there is a choice, the curve or size.
ALGORITHM_LABELS = {"ec-p256": "ECDSA P-256", "rsa-2048": "RSA 2048", SM2_SM3.name: "SM2"}


def _algorithm_of(certificate_der: bytes) -> str:
    try:
        return ALGORITHM_LABELS.get(profile_of_public_key(public_key_of_certificate(certificate_der)).name, "")
    except (UnknownKeyProfile, ValueError, Sm2Error):  # a key of no profile we issue
        return ""


def certificate_info(*, serial_hex: str) -> CertificateInfo:
    record = IssuedCertificate.objects.get(serial_hex=serial_hex)
    certificate = services.certificate_of(record)
    holder = certificate.subject.get_attributes_for_oid(NameOID.GIVEN_NAME)
    identifier = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    uscc = str(identifier[0].value) if identifier else ""
    return CertificateInfo(
        serial_hex=record.serial_hex,
        usage=record.usage,
        subject=certificate.subject.rfc4514_string(),
        not_before=record.not_before,
        not_after=record.not_after,
        status=record.status,
        holder=str(holder[0].value) if holder else "",
        enterprise=profiles.enterprise_name_of(certificate),
        uscc=uscc.removeprefix("NTRCN-"),
        algorithm=_algorithm_of(bytes(record.certificate_der)),
    )


def certificate_pem(*, serial_hex: str) -> str:
    return _pem(IssuedCertificate.objects.get(serial_hex=serial_hex))


def chain_pems(key_profile: str = DEFAULT_KEY_PROFILE.name) -> list[str]:
    """The issuing CA's certificate, then the root's (PEM), as the chain of a credential of ``key_profile``
    continues: the SM2 hierarchy's for an ``sm2`` credential, the ECDSA one's otherwise."""
    from mobileca.ca.models import AuthorityRole

    roles = (
        (AuthorityRole.SM2_ISSUING, AuthorityRole.SM2_ROOT)
        if key_profile == SM2_SM3.name
        else (AuthorityRole.ISSUING, AuthorityRole.ROOT)
    )
    return [
        services.certificate_of(services.authority(role)).public_bytes(serialization.Encoding.PEM).decode()
        for role in roles
    ]


# --- the time-stamping authority (issue 17) ------------------------------------------------------------------------

TimestampRefused = tsa.Rejected  # ``failure`` (the RFC 3161 failure bit's name) and ``text``
TimestampInvalid = tsa.TokenInvalid
TimestampMismatch = tsa.ImprintMismatch  # a TimestampInvalid: a valid token over another hash
SHA256_OID = "2.16.840.1.101.3.4.2.1"
TIMESTAMP_HASH_OIDS = frozenset(tsa.HASHES)  # SHA-256, SHA-384, SHA-512


def timestamp(*, digest: bytes, hash_oid: str = SHA256_OID, nonce: int | None = None) -> bytes:
    """An RFC 3161 time-stamp token (DER ContentInfo, the unit's certificate included) for a digest made with
    SHA-256, SHA-384 or SHA-512. ``TimestampRefused`` for another algorithm or a digest of the wrong length;
    ``KeyBackendError`` (retryable) when the key back-end is unavailable."""
    return tsa.stamp_digest(hash_oid=hash_oid, digest=digest, nonce=nonce)


@dataclass(frozen=True)
class TimestampVerdict:
    gen_time: datetime
    serial_number: int
    policy: str
    tsa_serial_hex: str


def timestamp_verify(*, token: bytes, digest: bytes, hash_oid: str = SHA256_OID) -> TimestampVerdict:
    """Check a token of this platform's TSA over ``digest``: signature, attributes, the unit's certificate (ours,
    chaining to our root at genTime, not revoked before it) and the imprint. ``TimestampInvalid`` says why not."""
    verified = tsa.token_verify(token, digest=digest, hash_oid=hash_oid)
    return TimestampVerdict(verified.gen_time, verified.serial_number, verified.policy, verified.tsa_serial_hex)


def wrap_bytes(*, owner_id: str, plaintext: bytes) -> bytes:
    """Raw bytes (a two-party key share, a pepper) sealed under the master key for ``owner_id``."""
    return key_backend().wrap(owner_id, plaintext)


def unwrap_bytes(*, owner_id: str, blob: bytes) -> bytes:
    """What ``wrap_bytes`` sealed for ``owner_id``; ``UnwrapError`` for another owner or a changed blob."""
    return key_backend().unwrap(owner_id, blob)
