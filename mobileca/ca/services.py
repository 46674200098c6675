"""CA operations. Each write is one transaction with its audit events; signing happens through the key back-end.

The issuance path (R3.7, R4.2) is built to scale with the number of owners, not to queue on one row:

* the issuing authority (its parsed certificate and its signer from the key back-end) is cached per process, keyed
  by the active authority's primary key and key label, which one small query reads on every issuance: a rotation
  (a new active authority) is seen by the very next issuance, so no process keeps signing with a retired CA;
* the certificates are built and signed before any transaction opens; a credential's two certificates are then
  inserted with one ``bulk_create`` and their events with one ``audit_record_many``;
* re-key and revocation of one owner are serialised by a lock of that owner only (``_lock_owner``: a transaction
  advisory lock on PostgreSQL; SQLite's IMMEDIATE transactions serialise all writers anyway), so two owners never
  wait for each other. Publishing the CRL still bumps the authority's CRL number under its row lock, at the end of
  the transaction.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.views.decorators.debug import sensitive_variables

from mobileca.audit.services import Actor, AuditEntry, audit_record, audit_record_many
from mobileca.ca import gm, ocsp, sm2
from mobileca.ca.backends import KeyBackend
from mobileca.ca.backends.factory import backend as configured_backend
from mobileca.ca.keys import UserPublicKey, unwrap_sm2_private_key, wrap_sm2_private_key
from mobileca.ca.models import (
    CERT_TRANSITIONS,
    SM2_ROLES,
    Authority,
    AuthorityProfile,
    AuthorityRole,
    CertStatus,
    Crl,
    IssuedCertificate,
    Usage,
)
from mobileca.ca.profiles import (
    Subject,
    entity_certificate,
    issuing_certificate,
    pki_url,
    policy_oid,
    root_certificate,
)
from mobileca.core.clock import now
from mobileca.core.errors import Conflict, NotFound
from mobileca.core.states import ensure_transition

log = logging.getLogger(__name__)
CRL_LIFETIME = timedelta(days=1)
# Reasons a revocation may give (RFC 5280 §5.3.1): no removeFromCRL (delta CRLs only), no certificateHold (no way to
# lift it here), no aACompromise (no attribute certificates).
REVOCATION_REASONS = frozenset(
    {
        x509.ReasonFlags.unspecified,
        x509.ReasonFlags.key_compromise,
        x509.ReasonFlags.ca_compromise,
        x509.ReasonFlags.affiliation_changed,
        x509.ReasonFlags.superseded,
        x509.ReasonFlags.cessation_of_operation,
        x509.ReasonFlags.privilege_withdrawn,
    }
)
SYSTEM = Actor("system", "ca")
# The first key of PostgreSQL's two-key advisory locks, naming the locks of this module ("CA" + 1): a credential
# owner's lock is (OWNER_LOCK_SPACE, a 32-bit hash of the owner id). Another module's locks use another space.
OWNER_LOCK_SPACE = 0x4341_0001


def _hex(serial: int) -> str:
    return f"{serial:x}"


# --- the hierarchy ----------------------------------------------------------------------------------------------


@sensitive_variables()
def ca_init(*, key_backend: KeyBackend | None = None) -> tuple[Authority, Authority]:
    """Create the root and the issuing CA, the master key, and the first CRLs, and the SM2 hierarchy beside them
    (``sm2_hierarchy_ensure``). Idempotent. Returns the ECDSA root and issuing CA. (The time-stamping unit is
    ``tsa.tsa_ensure``'s, which the ``ca_init`` command runs after this.)"""
    keys = key_backend or configured_backend()
    hierarchy = _ecdsa_hierarchy_ensure(keys)
    sm2_hierarchy_ensure(key_backend=keys)
    return hierarchy


@sensitive_variables()
def _ecdsa_hierarchy_ensure(keys: KeyBackend) -> tuple[Authority, Authority]:
    existing = {authority.role: authority for authority in Authority.objects.filter(is_active=True)}
    if AuthorityRole.ROOT in existing and AuthorityRole.ISSUING in existing:
        return existing[AuthorityRole.ROOT], existing[AuthorityRole.ISSUING]
    keys.ensure_master_key()
    suffix = secrets.token_hex(4)
    moment = now()
    root_label, issuing_label = f"mobileca-root-{suffix}", f"mobileca-issuing-{suffix}"
    root_public = keys.create_signing_key(root_label, ec.SECP384R1())
    root_cert = root_certificate(key=keys.signing_key(root_label), public_key=root_public, now=moment)
    issuing_public = keys.create_signing_key(issuing_label, ec.SECP256R1())
    issuing_cert = issuing_certificate(
        root_key=keys.signing_key(root_label), root=root_cert, public_key=issuing_public, now=moment
    )
    with transaction.atomic():
        root = _authority_create(AuthorityRole.ROOT, keys.name, root_label, root_cert)
        issuing = _authority_create(AuthorityRole.ISSUING, keys.name, issuing_label, issuing_cert)
        crl_publish(authority_id=root.pk, key_backend=keys)
        crl_publish(authority_id=issuing.pk, key_backend=keys)
    return root, issuing


@sensitive_variables()
def ca_rotate_issuing(
    *, key_backend: KeyBackend | None = None, actor: Actor = SYSTEM, key_profile: str = AuthorityProfile.ECDSA
) -> Authority:
    """A new issuing CA under the same root; the old one is retired (it issues nothing more) but still answered
    for: its certificates' OCSP responses keep being refreshed and served, and its CRL published (issue 16).
    ``key_profile`` names the hierarchy: ``ecdsa`` (the default) or ``sm2``, whose new CA gets a new SM2 key sealed
    in its row and its certificate signed by the SM2 root (issue 19)."""
    if key_profile not in AuthorityProfile.values:
        raise ValueError(f"unknown CA key profile {key_profile!r}")
    sm2_profile = key_profile == AuthorityProfile.SM2
    root_role, role = (AuthorityRole.ROOT, AuthorityRole.ISSUING)
    if sm2_profile:
        root_role, role = (AuthorityRole.SM2_ROOT, AuthorityRole.SM2_ISSUING)
    root, old = authority(root_role), authority(role)
    keys = key_backend or configured_backend()
    if sm2_profile:
        label = f"mobileca-sm2-issuing-{secrets.token_hex(4)}"
        key = sm2.generate()
        der = _sm2_issuing_certificate(_sm2_signer(root, keys), bytes(root.certificate_der), key, now())
        certificate = x509.load_der_x509_certificate(der)
        wrapped: bytes | None = wrap_sm2_private_key(owner_id=label, key=key, key_backend=keys)
    else:
        label = f"mobileca-issuing-{secrets.token_hex(4)}"
        public = keys.create_signing_key(label, ec.SECP256R1())
        certificate = issuing_certificate(
            root_key=keys.signing_key(root.key_label), root=certificate_of(root), public_key=public, now=now()
        )
        wrapped = None
    with transaction.atomic():
        Authority.objects.filter(pk=old.pk).update(is_active=False)
        audit_record(
            action="ca.authority_retired",
            subject=f"ca:{role}",
            actor=actor,
            data={"serial": old.serial_hex, "subject": old.subject},
        )
        new = _authority_create(role, keys.name, label, certificate, key_profile=key_profile, wrapped_key=wrapped)
        crl_publish(authority_id=new.pk, key_backend=keys)
    return new


def _authority_create(
    role: str,
    backend_name: str,
    label: str,
    certificate: x509.Certificate,
    *,
    key_profile: str = AuthorityProfile.ECDSA,
    wrapped_key: bytes | None = None,
) -> Authority:
    authority = Authority.objects.create(
        role=role,
        key_profile=key_profile,
        key_backend=backend_name,
        key_label=label,
        wrapped_key=wrapped_key,
        subject=certificate.subject.rfc4514_string(),
        serial_hex=_hex(certificate.serial_number),
        certificate_der=certificate.public_bytes(serialization.Encoding.DER),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        created_at=now(),
    )
    audit_record(
        action="ca.authority_created",
        subject=f"ca:{role}",
        actor=SYSTEM,
        data={"serial": authority.serial_hex, "backend": backend_name, "subject": authority.subject},
    )
    return authority


# --- the SM2 hierarchy (issue 19) -------------------------------------------------------------------------------


@sensitive_variables()
def sm2_hierarchy_ensure(*, key_backend: KeyBackend | None = None) -> tuple[Authority, Authority]:
    """The SM2 root and issuing CA beside the ECDSA ones, with their first CRLs; created once (idempotent). Their
    keys are SM2 keys sealed under the key back-end's master key (``keys.wrap_sm2_private_key``, the key label as
    associated data) in the authority's row; their certificates are built by ``gm``: the same names as the ECDSA
    CAs' with "SM2" in the common name, the root's CRL and certificate at ``/pki/ca/<serial>.crl|.crt``, the
    platform's policy."""
    existing = {
        authority.role: authority for authority in Authority.objects.filter(is_active=True, role__in=list(SM2_ROLES))
    }
    if AuthorityRole.SM2_ROOT in existing and AuthorityRole.SM2_ISSUING in existing:
        return existing[AuthorityRole.SM2_ROOT], existing[AuthorityRole.SM2_ISSUING]
    keys = key_backend or configured_backend()
    keys.ensure_master_key()
    suffix = secrets.token_hex(4)
    moment = now()
    root_label, issuing_label = f"mobileca-sm2-root-{suffix}", f"mobileca-sm2-issuing-{suffix}"
    root_key, issuing_key = sm2.generate(), sm2.generate()
    organization, name = settings.MOBILECA_SELLER["name"], settings.MOBILECA_CA["name"]
    root_der = gm.root_certificate(
        signer=root_key.sign,
        public_key_der=root_key.public_key().der,
        name=gm.ca_name(organization, f"{name} SM2 Root CA"),
        now=moment,
    )
    issuing_der = _sm2_issuing_certificate(root_key.sign, root_der, issuing_key, moment)
    with transaction.atomic():
        root = _authority_create(
            AuthorityRole.SM2_ROOT,
            keys.name,
            root_label,
            x509.load_der_x509_certificate(root_der),
            key_profile=AuthorityProfile.SM2,
            wrapped_key=wrap_sm2_private_key(owner_id=root_label, key=root_key, key_backend=keys),
        )
        issuing = _authority_create(
            AuthorityRole.SM2_ISSUING,
            keys.name,
            issuing_label,
            x509.load_der_x509_certificate(issuing_der),
            key_profile=AuthorityProfile.SM2,
            wrapped_key=wrap_sm2_private_key(owner_id=issuing_label, key=issuing_key, key_backend=keys),
        )
        crl_publish(authority_id=root.pk, key_backend=keys)
        crl_publish(authority_id=issuing.pk, key_backend=keys)
    return root, issuing


def _sm2_issuing_certificate(
    root_signer: Callable[[bytes], bytes], root_der: bytes, issuing_key: sm2.Sm2PrivateKey, moment: datetime
) -> bytes:
    """An SM2 issuing CA's certificate below the SM2 root: the same name for every one (a rotation's new CA too),
    the root's CRL and certificate at ``/pki/ca/<root serial>.crl|.crt``, the platform's policy."""
    organization, name = settings.MOBILECA_SELLER["name"], settings.MOBILECA_CA["name"]
    root_file = f"ca/{gm.serial_of(root_der):x}"
    return gm.issuing_certificate(
        root_signer=root_signer,
        root_der=root_der,
        public_key_der=issuing_key.public_key().der,
        name=gm.ca_name(organization, f"{name} SM2 Issuing CA"),
        locations=gm.Locations(crl=pki_url(f"{root_file}.crl"), ca_issuers=pki_url(f"{root_file}.crt")),
        policy_oid=policy_oid().dotted_string,
        now=moment,
    )


@sensitive_variables()
def _sm2_signer(record: Authority, key_backend: KeyBackend | None) -> Callable[[bytes], bytes]:
    """An SM2 authority's signer (SM3, ID 1234567812345678): its key unsealed by the back-end for this call."""
    key = unwrap_sm2_private_key(
        owner_id=record.key_label, blob=bytes(record.wrapped_key or b""), key_backend=key_backend
    )
    return key.sign


def authority(role: str) -> Authority:
    found = Authority.objects.filter(role=role, is_active=True).first()
    if found is None:
        raise NotFound("证书认证机构尚未初始化", code="ca_not_initialised")
    return found


def certificate_of(record: Authority | IssuedCertificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(bytes(record.certificate_der))


@sensitive_variables()
def _signer(record: Authority, key_backend: KeyBackend | None) -> ec.EllipticCurvePrivateKey:
    return (key_backend or configured_backend()).signing_key(record.key_label)


# --- credentials --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedPair:
    sign: IssuedCertificate
    encrypt: IssuedCertificate


@dataclass(frozen=True)
class _Issuer:
    """The active issuing authority as this process signs with it: the row's identity, its parsed certificate, and
    its signer from the key back-end (the back-end is kept to tell apart two back-ends configured in one process)."""

    pk: int
    key_label: str
    certificate: x509.Certificate
    signer: ec.EllipticCurvePrivateKey | sm2.Sm2PrivateKey  # an SM2 issuing CA's key, unsealed once per process
    backend: KeyBackend

    @property
    def is_sm2(self) -> bool:
        return isinstance(self.signer, sm2.Sm2PrivateKey)


# One slot per hierarchy: there is one active issuing authority of each at a time.
_issuer_cache: dict[str, _Issuer] = {}
_ACTIVE_ISSUER_SQL = (  # at most one row: ca_one_active_authority_per_role
    f"SELECT id, key_label FROM {Authority._meta.db_table} WHERE role = %s AND is_active LIMIT 1"  # noqa: S608
)


@sensitive_variables()
def _issuer(key_backend: KeyBackend | None, role: str = AuthorityRole.ISSUING) -> _Issuer:
    """The active issuing authority of a hierarchy (``role``: ``issuing`` or ``sm2_issuing``), from the per-process
    cache when its primary key, key label and back-end are still those of the active row (one small query every
    time, so that a rotation takes effect at once). The query is written out: on the issuance path the ORM's
    building of it cost four times its round trip (0.5 against 0.1 ms measured on PostgreSQL). An SM2 authority's
    key is unsealed from its row once per process and kept with the cached entry, as the key file back-end keeps
    the ECDSA keys."""
    with connection.cursor() as cursor:
        cursor.execute(_ACTIVE_ISSUER_SQL, [str(role)])
        row = cursor.fetchone()
    active = (row[0], row[1]) if row else None
    if active is None:
        raise NotFound("证书认证机构尚未初始化", code="ca_not_initialised")
    keys = key_backend or configured_backend()
    cached = _issuer_cache.get(str(role))
    if cached is not None and (cached.pk, cached.key_label) == active and cached.backend is keys:
        return cached
    record = Authority.objects.get(pk=active[0])
    signer: ec.EllipticCurvePrivateKey | sm2.Sm2PrivateKey
    if record.key_profile == AuthorityProfile.SM2:
        signer = unwrap_sm2_private_key(
            owner_id=record.key_label, blob=bytes(record.wrapped_key or b""), key_backend=keys
        )
    else:
        signer = keys.signing_key(record.key_label)
    fresh = _Issuer(
        pk=record.pk, key_label=record.key_label, certificate=certificate_of(record), signer=signer, backend=keys
    )
    _issuer_cache[str(role)] = fresh
    return fresh


@dataclass(frozen=True)
class _Built:
    """A credential's two certificates, built and signed, not yet stored."""

    owner_id: str
    issuer: _Issuer
    certificates: tuple[tuple[str, x509.Certificate], ...]  # (usage, certificate): sign first, then encrypt
    subject_cn: str
    moment: datetime
    end: datetime
    ocsp: tuple[ocsp.Signed, ...]  # their pre-produced OCSP responses


def _build_pair(
    *,
    owner_id: str,
    subject: Subject,
    sign_public_key: UserPublicKey,
    encrypt_public_key: UserPublicKey,
    not_after: datetime | None,
    valid_days: int,
    key_backend: KeyBackend | None,
) -> _Built:
    """Build and sign the two certificates: CPU and the key back-end only, before any transaction or lock. SM2 keys
    are certified by the SM2 issuing CA (``_sm2_certificates``), every other key by the ECDSA one."""
    sm2_keys = [isinstance(key, sm2.Sm2PublicKey) for key in (sign_public_key, encrypt_public_key)]
    if any(sm2_keys) and not all(sm2_keys):
        raise ValueError("a credential's two keys are of one profile")
    issuer = _issuer(key_backend, AuthorityRole.SM2_ISSUING if all(sm2_keys) else AuthorityRole.ISSUING)
    moment = now()
    end = not_after or moment + timedelta(days=valid_days)
    if issuer.is_sm2:
        assert isinstance(sign_public_key, sm2.Sm2PublicKey) and isinstance(encrypt_public_key, sm2.Sm2PublicKey)
        certificates = _sm2_certificates(issuer, subject, sign_public_key, encrypt_public_key, moment, end)
    else:
        certificates = _ecdsa_certificates(issuer, subject, sign_public_key, encrypt_public_key, moment, end)
    responses = ocsp.sign_new(issuer.pk, issuer.signer, [certificate.serial_number for _, certificate in certificates])
    return _Built(owner_id, issuer, certificates, subject.enterprise_name, moment, end, responses)


def _ecdsa_certificates(
    issuer: _Issuer,
    subject: Subject,
    sign_public_key: UserPublicKey,
    encrypt_public_key: UserPublicKey,
    moment: datetime,
    end: datetime,
) -> tuple[tuple[str, x509.Certificate], ...]:
    """The dual certificates of an ECDSA or RSA credential, signed by the ECDSA issuing CA (``profiles``)."""
    assert not isinstance(issuer.signer, sm2.Sm2PrivateKey)
    assert not isinstance(sign_public_key, sm2.Sm2PublicKey) and not isinstance(encrypt_public_key, sm2.Sm2PublicKey)
    return tuple(
        (
            usage,
            entity_certificate(
                issuer_key=issuer.signer,
                issuer=issuer.certificate,
                subject=subject,
                usage=usage,
                public_key=public_key,
                not_before=moment,
                not_after=end,
            ),
        )
        for usage, public_key in ((Usage.SIGN, sign_public_key), (Usage.ENCRYPT, encrypt_public_key))
    )


def _sm2_certificates(
    issuer: _Issuer,
    subject: Subject,
    sign_public_key: sm2.Sm2PublicKey,
    encrypt_public_key: sm2.Sm2PublicKey,
    moment: datetime,
    end: datetime,
) -> tuple[tuple[str, x509.Certificate], ...]:
    """The dual certificates of an SM2 credential (GM/T 0015 key usages, ``gm.entity_certificate``), with the same
    subject, locations and policy as the ECDSA profile's; parsed back so that storing them is the same code."""
    assert isinstance(issuer.signer, sm2.Sm2PrivateKey)
    issuer_der = issuer.certificate.public_bytes(serialization.Encoding.DER)
    issuer_file = f"ca/{issuer.certificate.serial_number:x}"
    locations = gm.Locations(
        crl=pki_url(f"{issuer_file}.crl"), ca_issuers=pki_url(f"{issuer_file}.crt"), ocsp=pki_url("ocsp")
    )
    name = gm.entity_name(
        enterprise_name=subject.enterprise_name, uscc=subject.uscc, claimant_name=subject.claimant_name
    )
    return tuple(
        (
            usage,
            x509.load_der_x509_certificate(
                gm.entity_certificate(
                    issuer_signer=issuer.signer.sign,
                    issuer_der=issuer_der,
                    subject=name,
                    usage=usage,
                    public_key_der=public_key.der,
                    locations=locations,
                    policy_oid=policy_oid().dotted_string,
                    not_before=moment,
                    not_after=end,
                    uscc=subject.uscc,
                )
            ),
        )
        for usage, public_key in ((Usage.SIGN, sign_public_key), (Usage.ENCRYPT, encrypt_public_key))
    )


def _store_pair(built: _Built, actor: Actor) -> tuple[IssuedPair, list[AuditEntry]]:
    """Insert the two certificates with one statement; returns them and their events (for the caller to write)."""
    records = IssuedCertificate.objects.bulk_create(
        [
            IssuedCertificate(
                authority_id=built.issuer.pk,
                serial_hex=_hex(certificate.serial_number),
                owner_id=built.owner_id,
                usage=usage,
                subject_cn=built.subject_cn,
                certificate_der=certificate.public_bytes(serialization.Encoding.DER),
                not_before=certificate.not_valid_before_utc,
                not_after=certificate.not_valid_after_utc,
                created_at=built.moment,
            )
            for usage, certificate in built.certificates
        ]
    )
    entries = [
        AuditEntry(
            action="ca.certificate_issued",
            subject=f"cert:{record.serial_hex}",
            actor=actor,
            data={"owner": built.owner_id, "usage": record.usage, "not_after": built.end.isoformat()},
        )
        for record in records
    ]
    ocsp.store_new(records, built.ocsp)  # their OCSP responses, signed with them (issue 16)
    by_usage = {record.usage: record for record in records}
    return IssuedPair(sign=by_usage[Usage.SIGN], encrypt=by_usage[Usage.ENCRYPT]), entries


def credential_issue(
    *,
    owner_id: str,
    subject: Subject,
    sign_public_key: UserPublicKey,
    encrypt_public_key: UserPublicKey,
    not_after: datetime | None = None,
    valid_days: int = 365,
    key_backend: KeyBackend | None = None,
    actor: Actor = SYSTEM,
) -> IssuedPair:
    """The signing and the encryption certificate of one credential (R3.7): signed before the transaction, then one
    insert of both and one insert of their two events."""
    built = _build_pair(
        owner_id=owner_id,
        subject=subject,
        sign_public_key=sign_public_key,
        encrypt_public_key=encrypt_public_key,
        not_after=not_after,
        valid_days=valid_days,
        key_backend=key_backend,
    )
    with transaction.atomic():
        pair, entries = _store_pair(built, actor)
        audit_record_many(entries)
    return pair


def _owner_lock_key(owner_id: str) -> int:
    """A signed 32-bit key of the owner id, stable across processes and versions (unlike ``hash``). Two owners that
    share a key merely serialise with each other."""
    return int.from_bytes(hashlib.sha256(owner_id.encode()).digest()[:4], "big", signed=True)


def _lock_owner(owner_id: str) -> None:
    """Serialise the credential changes of one owner (re-key, revocation) until the transaction ends, and only of
    that owner: on PostgreSQL a transaction-scoped advisory lock on the owner; on SQLite nothing more is needed, an
    IMMEDIATE transaction already holds the database's one write lock. Must be called inside a transaction."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [OWNER_LOCK_SPACE, _owner_lock_key(owner_id)])


def credential_rekey(
    *,
    owner_id: str,
    subject: Subject,
    sign_public_key: UserPublicKey,
    encrypt_public_key: UserPublicKey,
    not_after: datetime,
    key_backend: KeyBackend | None = None,
    actor: Actor = SYSTEM,
) -> IssuedPair:
    """New certificates for new keys (R4.2); the owner's old ones are revoked as superseded, in one transaction
    under the owner's lock. The new certificates are signed before it."""
    built = _build_pair(
        owner_id=owner_id,
        subject=subject,
        sign_public_key=sign_public_key,
        encrypt_public_key=encrypt_public_key,
        not_after=not_after,
        valid_days=0,
        key_backend=key_backend,
    )
    with transaction.atomic():
        _lock_owner(owner_id)
        old = list(IssuedCertificate.objects.select_for_update().filter(owner_id=owner_id, status=CertStatus.GOOD))
        entries = _revoke_many(old, x509.ReasonFlags.superseded, actor)
        pair, issued_entries = _store_pair(built, actor)
        audit_record_many([*entries, *issued_entries])
        for authority_id in sorted({record.authority_id for record in old}):
            crl_publish(authority_id=authority_id, key_backend=key_backend)
    return pair


def credential_revoke_all(
    *, owner_id: str, reason: x509.ReasonFlags, key_backend: KeyBackend | None = None, actor: Actor = SYSTEM
) -> int:
    """Revoke every valid certificate of an owner at once, with one CRL. Already revoked ones are left alone — except
    for keyCompromise: a certificate revoked for another reason (not one a re-key superseded, whose key was replaced)
    then has its reason changed to keyCompromise, as RFC 5280 §5.3.1 allows, so relying parties stop trusting what
    it signed before. Returns how many certificates were revoked or changed."""
    if reason not in REVOCATION_REASONS:
        raise ValueError(f"revocation reason {reason.name} is not used by this CA")
    with transaction.atomic():
        _lock_owner(owner_id)
        records = list(IssuedCertificate.objects.select_for_update().filter(owner_id=owner_id, status=CertStatus.GOOD))
        changed: list[IssuedCertificate] = []
        if reason == x509.ReasonFlags.key_compromise:
            changed = list(
                IssuedCertificate.objects.select_for_update()
                .filter(owner_id=owner_id, status=CertStatus.REVOKED)
                .exclude(revocation_reason__in=[reason.name, x509.ReasonFlags.superseded.name])
            )
        audit_record_many(_revoke_many(records, reason, actor) + _reason_to_key_compromise(changed, actor))
        for authority_id in sorted({record.authority_id for record in records + changed}):
            crl_publish(authority_id=authority_id, key_backend=key_backend)
    return len(records) + len(changed)


def certificate_revoke(
    *, serial_hex: str, reason: x509.ReasonFlags, key_backend: KeyBackend | None = None, actor: Actor = SYSTEM
) -> IssuedCertificate:
    if reason not in REVOCATION_REASONS:
        raise ValueError(f"revocation reason {reason.name} is not used by this CA")
    with transaction.atomic():
        record = IssuedCertificate.objects.select_for_update().filter(serial_hex=serial_hex).first()
        if record is None:
            raise NotFound("未找到该证书", code="certificate_not_found")
        if record.status == CertStatus.REVOKED:
            raise Conflict("该证书已吊销", code="already_revoked")
        _revoke(record, reason, actor)
        crl_publish(authority_id=record.authority_id, key_backend=key_backend)
    return record


def _revoke(record: IssuedCertificate, reason: x509.ReasonFlags, actor: Actor) -> None:
    """Revoke one certificate whose row the caller holds locked, with its event."""
    audit_record_many(_revoke_many([record], reason, actor))


def _revoke_many(records: Iterable[IssuedCertificate], reason: x509.ReasonFlags, actor: Actor) -> list[AuditEntry]:
    """The one writer of a certificate's status (the caller holds the rows locked): one UPDATE for all of them;
    returns their events for the caller to write with its others."""
    records = list(records)
    if not records:
        return []
    for record in records:
        ensure_transition(CERT_TRANSITIONS, record.status, CertStatus.REVOKED)
    moment = now()
    IssuedCertificate.objects.filter(pk__in=[record.pk for record in records]).update(
        status=CertStatus.REVOKED, revoked_at=moment, revocation_reason=reason.name
    )
    for record in records:
        record.status, record.revoked_at, record.revocation_reason = CertStatus.REVOKED, moment, reason.name
    ocsp.on_revoked(records)  # no "good" response outlives the commit; "revoked" is signed right after it
    return [
        AuditEntry(
            action="ca.certificate_revoked",
            subject=f"cert:{record.serial_hex}",
            actor=actor,
            data={"owner": record.owner_id, "reason": reason.name},
        )
        for record in records
    ]


def _reason_to_key_compromise(records: list[IssuedCertificate], actor: Actor) -> list[AuditEntry]:
    """Revoked certificates (the caller holds the rows locked) whose key turned out compromised: the reason becomes
    keyCompromise (RFC 5280 §5.3.1), the revocation time stays; their OCSP answers are signed again; returns their
    events."""
    if not records:
        return []
    IssuedCertificate.objects.filter(pk__in=[record.pk for record in records]).update(
        revocation_reason=x509.ReasonFlags.key_compromise.name
    )
    before = {record.pk: record.revocation_reason for record in records}
    for record in records:
        record.revocation_reason = x509.ReasonFlags.key_compromise.name
    ocsp.on_revoked(records)
    return [
        AuditEntry(
            action="ca.certificate_revocation_reason_changed",
            subject=f"cert:{record.serial_hex}",
            actor=actor,
            data={"owner": record.owner_id, "from": before[record.pk], "reason": record.revocation_reason},
        )
        for record in records
    ]


# --- CRL ------------------------------------------------------------------------------------------------------------


def crl_publish(*, authority_id: int, key_backend: KeyBackend | None = None) -> Crl:
    """A new CRL of the authority, numbered one up, signed through the key back-end."""
    with transaction.atomic():
        record = Authority.objects.select_for_update().get(pk=authority_id)
        record.crl_number += 1
        record.save(update_fields=["crl_number"])
        moment = now()
        if record.key_profile == AuthorityProfile.SM2:
            return _sm2_crl_publish(record, moment, key_backend)
        issuer = certificate_of(record)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.subject)
            .last_update(moment)
            .next_update(moment + CRL_LIFETIME)
            .add_extension(x509.CRLNumber(record.crl_number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                    issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
                ),
                critical=False,
            )
        )
        for revoked in IssuedCertificate.objects.filter(authority=record, status=CertStatus.REVOKED).only(
            "serial_hex", "revoked_at", "revocation_reason"
        ):
            entry = (
                x509.RevokedCertificateBuilder()
                .serial_number(int(revoked.serial_hex, 16))
                .revocation_date(revoked.revoked_at or moment)
            )
            if revoked.revocation_reason and revoked.revocation_reason != "unspecified":
                entry = entry.add_extension(x509.CRLReason(x509.ReasonFlags[revoked.revocation_reason]), critical=False)
            builder = builder.add_revoked_certificate(entry.build())
        algorithm = hashes.SHA384() if record.role == AuthorityRole.ROOT else hashes.SHA256()
        crl = builder.sign(_signer(record, key_backend), algorithm)
        return Crl.objects.create(
            authority=record,
            number=record.crl_number,
            this_update=moment,
            next_update=moment + CRL_LIFETIME,
            der=crl.public_bytes(serialization.Encoding.DER),
        )


def _sm2_crl_publish(record: Authority, moment: datetime, key_backend: KeyBackend | None) -> Crl:
    """``crl_publish`` for an SM2 authority (its row locked and numbered by the caller): the same CRL, built by
    ``gm`` and signed with SM2."""
    revoked = [
        gm.Revoked(int(item.serial_hex, 16), item.revoked_at or moment, item.revocation_reason or "unspecified")
        for item in IssuedCertificate.objects.filter(authority=record, status=CertStatus.REVOKED).only(
            "serial_hex", "revoked_at", "revocation_reason"
        )
    ]
    der = gm.crl(
        signer=_sm2_signer(record, key_backend),
        issuer_der=bytes(record.certificate_der),
        number=record.crl_number,
        this_update=moment,
        next_update=moment + CRL_LIFETIME,
        revoked=revoked,
    )
    return Crl.objects.create(
        authority=record, number=record.crl_number, this_update=moment, next_update=moment + CRL_LIFETIME, der=der
    )


def crl_latest(role: str) -> Crl:
    return _crl_latest_of(authority(role))


def authority_by_serial(serial_hex: str) -> Authority:
    """Any authority, retired ones included, by its certificate's serial."""
    record = Authority.objects.filter(serial_hex=serial_hex).first()
    if record is None:
        raise NotFound("未找到该证书认证机构", code="ca_not_found")
    return record


def crl_of_authority(serial_hex: str) -> Crl:
    """The latest CRL of any authority, retired ones included, by its certificate's serial."""
    return _crl_latest_of(authority_by_serial(serial_hex))


def _crl_latest_of(record: Authority) -> Crl:
    crl = Crl.objects.filter(authority=record).order_by("-number").first()
    if crl is None:
        raise NotFound("尚未发布证书吊销列表", code="crl_missing")
    return crl


def crls_refresh(*, key_backend: KeyBackend | None = None) -> int:
    """The periodic job: a fresh CRL for every authority whose latest one is past half its life: the active ones and
    the retired issuing CAs of both hierarchies, whose certificates may still be valid."""
    published = 0
    retired_issuing = Q(role__in=[AuthorityRole.ISSUING, AuthorityRole.SM2_ISSUING])
    for record in Authority.objects.filter(Q(is_active=True) | retired_issuing):
        latest = record.crls.order_by("-number").first()
        if latest is None or latest.next_update - now() < CRL_LIFETIME / 2:
            crl_publish(authority_id=record.pk, key_backend=key_backend)
            published += 1
    return published
