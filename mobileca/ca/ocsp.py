"""OCSP (RFC 6960) with pre-produced responses (RFC 6960 §2.4, RFC 5019's lightweight profile).

Every certificate of every issuing CA the platform has run (the active one and the retired ones) has a signed
response ready, one per CertID hash (SHA-1 and SHA-256, as clients send both), stored in ``OcspResponse`` and, in
front of the table, in the ``ocsp`` cache (Redis when configured, else files shared by the host's processes):

* produced on issuance (signed with the certificates before the transaction, stored in it) and on revocation,
  after its transaction commits (``transaction.on_commit``); a revocation also deletes the certificate's stored
  responses and cache entries inside its transaction, so that no "good" answer survives the commit even if the new
  signature fails (the next request then signs it);
* refreshed by the periodic job once half their lifetime (``MOBILECA_OCSP_VALIDITY_MINUTES``) has passed;
* looked up by CertID (issuer name hash, issuer key hash, serial): a cache hit is served with no database access
  and no key operation. A miss reads the table (and fills the cache); only a certificate without a current
  response (a missed job) or a serial never issued by a served issuer is signed on demand, rate-limited.

``answer`` is the whole protocol over HTTP (RFC 5019 §5, §6.2): the WSGI responder in ``responder.py`` serves it
before Django, and the Django view serves the same function where the responder is not mounted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import unquote

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from django.conf import settings
from django.core.cache import caches
from django.db import close_old_connections, transaction
from django.db.models.signals import post_save
from django.db.utils import Error as DatabaseError
from django.dispatch import receiver

from mobileca.ca import gm, sm2
from mobileca.ca.backends import KeyBackend, KeyBackendError
from mobileca.ca.backends.factory import backend as configured_backend
from mobileca.ca.keys import unwrap_sm2_private_key
from mobileca.ca.models import (
    Authority,
    AuthorityProfile,
    AuthorityRole,
    CertStatus,
    IssuedCertificate,
    OcspResponse,
)
from mobileca.core import limits
from mobileca.core.clock import now
from mobileca.core.errors import TooMany

log = logging.getLogger(__name__)
MAX_REQUEST = 10_000
CACHE_ALIAS = "ocsp"
HASHES: dict[str, hashes.HashAlgorithm] = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256()}  # noqa: S303 (CertID)
LIVE_RATE = "120/m"  # live signatures (never-issued serials, nonces when asked for) per client address
_ISSUERS_RELOAD_SECONDS = 10.0
_ISSUING_ROLES = (AuthorityRole.ISSUING, AuthorityRole.SM2_ISSUING)  # both hierarchies' issuing CAs are served


def validity() -> timedelta:
    return timedelta(minutes=settings.MOBILECA_OCSP_VALIDITY_MINUTES)


def _error(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


MALFORMED = _error(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
UNAUTHORIZED = _error(ocsp.OCSPResponseStatus.UNAUTHORIZED)
TRY_LATER = _error(ocsp.OCSPResponseStatus.TRY_LATER)


# --- the issuers this responder serves ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Issuer:
    pk: int
    key_label: str
    certificate: x509.Certificate
    hashes: dict[str, tuple[bytes, bytes]]  # algorithm name -> (issuer name hash, issuer key hash)
    # An SM2 issuing CA (issue 19): its answers are built by ``gm`` and signed with its key, which is sealed under
    # the master key in its row (``wrapped_key``) instead of held by the key back-end.
    sm2: bool = False
    der: bytes = b""
    wrapped_key: bytes = b""


def _public_key_bits(certificate: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING contents (what the OCSP issuerKeyHash covers); read from the DER, since
    ``cryptography`` cannot load an SM2 key."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    spki = asn1_x509.Certificate.load(der)["tbs_certificate"]["subject_public_key_info"].dump()
    # SubjectPublicKeyInfo ::= SEQUENCE { algorithm, subjectPublicKey BIT STRING }: the key is the last element.
    return _last_bit_string(spki)


def _last_bit_string(spki: bytes) -> bytes:
    def length(at: int) -> tuple[int, int]:  # (length, offset of the contents)
        first = spki[at]
        if first < 0x80:
            return first, at + 1
        count = first & 0x7F
        return int.from_bytes(spki[at + 1 : at + 1 + count], "big"), at + 1 + count

    _, inner = length(1)  # the outer SEQUENCE's contents
    size, contents = length(inner + 1)  # the algorithm SEQUENCE
    bit_string = contents + size
    size, contents = length(bit_string + 1)
    return spki[contents + 1 : contents + size]  # skip the unused-bits octet


def _issuer_of(record: Authority) -> _Issuer:
    certificate = x509.load_der_x509_certificate(bytes(record.certificate_der))
    name, key = certificate.subject.public_bytes(), _public_key_bits(certificate)
    return _Issuer(
        pk=record.pk,
        key_label=record.key_label,
        certificate=certificate,
        hashes={label: (_digest(algorithm, name), _digest(algorithm, key)) for label, algorithm in HASHES.items()},
        sm2=record.key_profile == AuthorityProfile.SM2,
        der=bytes(record.certificate_der),
        wrapped_key=bytes(record.wrapped_key or b""),
    )


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize()


class _Issuers:
    """Every issuing authority, active or retired, by primary key and by CertID hashes; per process, reloaded when
    a CertID is not found (at most every ``_ISSUERS_RELOAD_SECONDS``: a rotation's new CA appears at once for the
    process that made it, and its responses are found in the cache by CertID anyway)."""

    def __init__(self) -> None:
        self.by_pk: dict[int, _Issuer] = {}
        self.by_hashes: dict[tuple[str, bytes, bytes], _Issuer] = {}
        self.loaded_at = float("-inf")

    def reload(self) -> None:
        by_pk = {record.pk: _issuer_of(record) for record in Authority.objects.filter(role__in=_ISSUING_ROLES)}
        self.by_pk = by_pk
        self.by_hashes = {
            (label, name, key): issuer for issuer in by_pk.values() for label, (name, key) in issuer.hashes.items()
        }
        self.loaded_at = time.monotonic()

    def get(self, pk: int) -> _Issuer:
        if pk not in self.by_pk:
            self.reload()
        return self.by_pk[pk]

    def find(self, label: str, name_hash: bytes, key_hash: bytes) -> _Issuer | None:
        found = self.by_hashes.get((label, name_hash, key_hash))
        if found is None and time.monotonic() - self.loaded_at > _ISSUERS_RELOAD_SECONDS:
            self.reload()
            found = self.by_hashes.get((label, name_hash, key_hash))
        return found


_issuers = _Issuers()


def issuers_forget() -> None:
    """Drop the per-process issuer table (a new authority, a test's fresh database)."""
    global _issuers  # the per-process table of issuers
    _issuers = _Issuers()


@receiver(post_save, sender=Authority)
def _authority_saved(**kwargs: object) -> None:
    issuers_forget()


# --- producing --------------------------------------------------------------------------------------------------


def _cache_key(label: str, name_hash: bytes, key_hash: bytes, serial: int) -> str:
    return f"ocsp:{label}:{name_hash.hex()}:{key_hash.hex()}:{serial:x}"


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


@dataclass(frozen=True)
class Stored:
    """What the responder serves for a CertID, as cached."""

    der: bytes
    etag: str
    last_modified: str
    expires: str
    next_update: float  # POSIX seconds


def _stored(der: bytes, this_update: datetime, next_update: datetime) -> Stored:
    return Stored(
        der=der,
        etag=hashlib.sha256(der).hexdigest(),
        last_modified=_http_date(this_update),
        expires=_http_date(next_update),
        next_update=next_update.timestamp(),
    )


def _cache_put(key: str, stored: Stored) -> None:
    timeout = int(stored.next_update - time.time())
    if timeout > 0:
        caches[CACHE_ALIAS].set(key, stored, timeout)


def _sign(
    issuer: _Issuer,
    signer: object,
    *,
    label: str,
    serial: int,
    record: IssuedCertificate | None,
    moment: datetime,
    nonce: x509.OCSPNonce | None = None,
) -> bytes:
    if issuer.sm2:
        return _sign_sm2(issuer, signer, label=label, serial=serial, record=record, moment=moment, nonce=nonce)
    name_hash, key_hash = issuer.hashes[label]
    if record is None:
        status = ocsp.OCSPCertStatus.UNKNOWN
    elif record.status == CertStatus.REVOKED:
        status = ocsp.OCSPCertStatus.REVOKED
    else:
        status = ocsp.OCSPCertStatus.GOOD
    revoked = record if status == ocsp.OCSPCertStatus.REVOKED else None
    reason = revoked.revocation_reason if revoked else ""
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=name_hash,
            issuer_key_hash=key_hash,
            serial_number=serial,
            algorithm=HASHES[label],
            cert_status=status,
            this_update=moment,
            next_update=moment + validity(),
            revocation_time=(revoked.revoked_at or moment) if revoked else None,
            # as in the CRL, "unspecified" is said by leaving the reason out (RFC 5280 §5.3.1)
            revocation_reason=x509.ReasonFlags[reason] if reason and reason != "unspecified" else None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer.certificate)
    )
    if nonce is not None:
        builder = builder.add_extension(nonce, critical=False)
    return builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.DER)  # type: ignore[arg-type]


def _sign_sm2(
    issuer: _Issuer,
    signer: object,
    *,
    label: str,
    serial: int,
    record: IssuedCertificate | None,
    moment: datetime,
    nonce: x509.OCSPNonce | None,
) -> bytes:
    """The same answer from an SM2 issuing CA: built by ``gm``, signed SM3withSM2 (ID 1234567812345678), the
    responder named by key hash like the ECDSA answers."""
    assert isinstance(signer, sm2.Sm2PrivateKey)
    if record is None:
        status = gm.Status(serial, unknown=True)
    elif record.status == CertStatus.REVOKED:
        status = gm.Status(serial, record.revoked_at or moment, record.revocation_reason or "unspecified")
    else:
        status = gm.Status(serial)
    return gm.ocsp_response(
        signer=signer.sign,
        issuer_der=issuer.der,
        statuses=[status],
        produced_at=moment,
        next_update=moment + validity(),
        hash_algorithm=label,
        nonce=nonce.nonce if nonce is not None else None,
    )


def _signing_key(issuer: _Issuer, keys: KeyBackend) -> object:
    """What signs an issuer's answers: the key back-end's key, or an SM2 CA's key unsealed from its row."""
    if issuer.sm2:
        return unwrap_sm2_private_key(owner_id=issuer.key_label, blob=issuer.wrapped_key, key_backend=keys)
    return keys.signing_key(issuer.key_label)


def _cache_keys(records: Iterable[IssuedCertificate]) -> list[str]:
    keys = []
    for record in records:
        issuer = _issuers.get(record.authority_id)
        for label, (name_hash, key_hash) in issuer.hashes.items():
            keys.append(_cache_key(label, name_hash, key_hash, int(record.serial_hex, 16)))
    return keys


def ocsp_produce(records: Sequence[IssuedCertificate], *, key_backend: KeyBackend | None = None) -> int:
    """Sign and store the responses of these certificates (their current status, read again), one per CertID
    hash, replacing older ones; the cache gets the new ones. Returns the number of responses signed."""
    if not records:
        return 0
    current = list(IssuedCertificate.objects.filter(pk__in=[record.pk for record in records]))
    keys = key_backend or configured_backend()
    moment = now()
    rows: list[OcspResponse] = []
    cached: list[tuple[str, Stored]] = []
    signers: dict[int, object] = {}
    for record in current:
        issuer = _issuers.get(record.authority_id)
        if record.authority_id not in signers:
            signers[record.authority_id] = _signing_key(issuer, keys)
        serial = int(record.serial_hex, 16)
        for label, (name_hash, key_hash) in issuer.hashes.items():
            der = _sign(issuer, signers[record.authority_id], label=label, serial=serial, record=record, moment=moment)
            stored = _stored(der, moment, moment + validity())
            rows.append(
                OcspResponse(
                    certificate=record,
                    authority_id=record.authority_id,
                    hash_algorithm=label,
                    serial_hex=record.serial_hex,
                    der=der,
                    etag=stored.etag,
                    produced_at=moment,
                    this_update=moment,
                    next_update=moment + validity(),
                )
            )
            cached.append((_cache_key(label, name_hash, key_hash, serial), stored))
    signed_status = {record.pk: record.status for record in current}
    kept = _replace(rows, signed_status)
    kept_keys = {id(row) for row in kept}
    for row, (key, stored) in zip(rows, cached, strict=True):
        if id(row) in kept_keys:
            _cache_put(key, stored)
    # A revocation committing meanwhile (after the transaction above) writes its own
    # responses after its commit: what was written here for such a certificate is dropped again.
    changed = [
        record
        for record in IssuedCertificate.objects.filter(pk__in=signed_status).only(
            "pk", "status", "authority_id", "serial_hex"
        )
        if record.status != signed_status[record.pk]
    ]
    if changed:
        caches[CACHE_ALIAS].delete_many(_cache_keys(changed))
        OcspResponse.objects.filter(
            certificate_id__in=[record.pk for record in changed], etag__in=[row.etag for row in kept]
        ).delete()
    return len(kept)


def _replace(rows: list[OcspResponse], signed_status: dict[int, str]) -> list[OcspResponse]:
    """Replace the stored responses of these certificates by ``rows``, but for certificates whose status is no
    longer the one signed; returns the rows written."""
    with transaction.atomic():
        # A revocation that committed after ``current`` was read produces its own responses after its commit: the
        # responses signed here for such a certificate are dropped (the revocation holds its rows locked meanwhile).
        now_status = dict(
            IssuedCertificate.objects.select_for_update().filter(pk__in=signed_status).values_list("pk", "status")
        )
        kept = [row for row in rows if now_status.get(row.certificate_id) == signed_status[row.certificate_id]]
        OcspResponse.objects.filter(certificate_id__in=[row.certificate_id for row in kept]).delete()
        OcspResponse.objects.bulk_create(kept)
    return kept


def _produce_after_commit(records: Sequence[IssuedCertificate]) -> None:
    try:
        ocsp_produce(records)
    except (KeyBackendError, DatabaseError):  # the responder signs on the next request; the job catches up
        log.exception("producing OCSP responses failed")


@dataclass(frozen=True)
class Signed:
    """A new certificate's response for one CertID hash, signed before the issuance's transaction."""

    serial: int
    label: str
    der: bytes
    moment: datetime


def sign_new(authority_id: int, signer: object, serials: Sequence[int]) -> tuple[Signed, ...]:
    """The "good" responses of certificates being issued, signed with the issuing key already in hand, before the
    transaction (like the certificates themselves): the issuance then stores them with one more INSERT."""
    issuer = _issuers.get(authority_id)
    moment = now()
    good = IssuedCertificate(status=CertStatus.GOOD)
    return tuple(
        Signed(serial, label, _sign(issuer, signer, label=label, serial=serial, record=good, moment=moment), moment)
        for serial in serials
        for label in issuer.hashes
    )


def store_new(records: Sequence[IssuedCertificate], signed: Sequence[Signed]) -> None:
    """Called in the issuance's transaction: the responses commit with the certificates (the cache gets them on
    their first request)."""
    by_serial = {int(record.serial_hex, 16): record for record in records}
    OcspResponse.objects.bulk_create(
        [
            OcspResponse(
                certificate=by_serial[item.serial],
                authority_id=by_serial[item.serial].authority_id,
                hash_algorithm=item.label,
                serial_hex=by_serial[item.serial].serial_hex,
                der=item.der,
                etag=hashlib.sha256(item.der).hexdigest(),
                produced_at=item.moment,
                this_update=item.moment,
                next_update=item.moment + validity(),
            )
            for item in signed
        ]
    )


def on_revoked(records: Sequence[IssuedCertificate]) -> None:
    """Called in the revocation's transaction: no stored "good" answer outlives it, and the revoked status is
    signed as soon as it commits."""
    pks = [record.pk for record in records]
    keys = _cache_keys(records)
    OcspResponse.objects.filter(certificate_id__in=pks).delete()
    caches[CACHE_ALIAS].delete_many(keys)

    def produce() -> None:
        caches[CACHE_ALIAS].delete_many(keys)  # anything a reader cached from before the commit
        _produce_after_commit(list(IssuedCertificate.objects.filter(pk__in=pks)))

    transaction.on_commit(produce)


def ocsp_refresh(*, key_backend: KeyBackend | None = None, batch: int = 500) -> int:
    """The periodic job: sign again every response past half its lifetime, and produce the missing ones, for the
    unexpired certificates of every issuing CA, active or retired. Returns the number of responses signed."""
    moment = now()
    due = moment + validity() / 2
    stale = OcspResponse.objects.filter(next_update__lt=due).values("certificate_id")
    wanted = IssuedCertificate.objects.filter(not_after__gt=moment)
    pks = list(
        wanted.filter(pk__in=stale)
        .values_list("pk", flat=True)
        .union(wanted.exclude(pk__in=OcspResponse.objects.values("certificate_id")).values_list("pk", flat=True))
    )
    signed = 0
    for start in range(0, len(pks), batch):
        signed += ocsp_produce(
            list(IssuedCertificate.objects.filter(pk__in=pks[start : start + batch])), key_backend=key_backend
        )
    return signed


# --- answering --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _ocsp_answer(body: bytes) -> Answer:
    return Answer(200, [("Content-Type", "application/ocsp-response")], body)


def _lookup(request: ocsp.OCSPRequest, label: str, client: str | None) -> Stored | bytes:
    """The stored response for the request's CertID, or an error response's DER."""
    name_hash, key_hash, serial = request.issuer_name_hash, request.issuer_key_hash, request.serial_number
    key = _cache_key(label, name_hash, key_hash, serial)
    cache = caches[CACHE_ALIAS]
    found: Stored | None = cache.get(key)
    if found is not None and found.next_update > time.time():
        return found
    issuer = _issuers.find(label, name_hash, key_hash)
    if issuer is None:
        return UNAUTHORIZED  # not an issuer this responder serves (RFC 6960 §2.3)
    row = (
        OcspResponse.objects.filter(authority_id=issuer.pk, hash_algorithm=label, serial_hex=f"{serial:x}")
        .only("der", "this_update", "next_update")
        .first()
    )
    if row is not None and row.next_update > now():
        stored = _stored(bytes(row.der), row.this_update, row.next_update)
        _cache_put(key, stored)
        return stored
    record = IssuedCertificate.objects.filter(authority_id=issuer.pk, serial_hex=f"{serial:x}").first()
    if record is not None:  # issued, but its response is missing or expired (a failed signature, a missed job)
        ocsp_produce([record])
        again: Stored | None = cache.get(key)
        return again if again is not None else TRY_LATER
    # Never issued by a served issuer: "unknown", signed now (rate-limited) and cached for its lifetime
    limits.hit("ocsp_live", client, LIVE_RATE)
    moment = now()
    der = _sign(issuer, _signer(issuer), label=label, serial=serial, record=None, moment=moment)
    stored = _stored(der, moment, moment + validity())
    _cache_put(key, stored)
    return stored


def _signer(issuer: _Issuer) -> object:
    return _signing_key(issuer, configured_backend())


def _live_with_nonce(request: ocsp.OCSPRequest, label: str, nonce: x509.OCSPNonce, client: str | None) -> bytes:
    """``MOBILECA_OCSP_LIVE_NONCE``: a response signed now, echoing the nonce (rate-limited per client)."""
    issuer = _issuers.find(label, request.issuer_name_hash, request.issuer_key_hash)
    if issuer is None:
        return UNAUTHORIZED
    limits.hit("ocsp_live", client, LIVE_RATE)
    serial = request.serial_number
    record = IssuedCertificate.objects.filter(authority_id=issuer.pk, serial_hex=f"{serial:x}").first()
    return _sign(issuer, _signer(issuer), label=label, serial=serial, record=record, moment=now(), nonce=nonce)


def _parse(der: bytes) -> tuple[ocsp.OCSPRequest, str, x509.OCSPNonce | None] | None:
    try:
        request = ocsp.load_der_ocsp_request(der)
        algorithm = request.hash_algorithm
        if (
            len(request.issuer_name_hash) != algorithm.digest_size
            or len(request.issuer_key_hash) != algorithm.digest_size
        ):
            return None
        try:
            nonce: x509.OCSPNonce | None = request.extensions.get_extension_for_class(x509.OCSPNonce).value
        except x509.ExtensionNotFound:
            nonce = None
        if nonce is not None and not 1 <= len(nonce.nonce) <= 32:  # RFC 8954
            return None
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.DuplicateExtension):
        return None
    return request, algorithm.name, nonce


def answer(
    *, method: str, encoded: str | None, body: bytes, content_type: str, if_none_match: str, client: str | None
) -> Answer:
    """The HTTP answer to an OCSP request: POST with ``body``, or GET with the base64 request in the path
    (``encoded``). Every OCSP outcome is an OCSP response (HTTP 200); only a POST that is not
    ``application/ocsp-request`` (or is oversized) is an HTTP error."""
    if method == "POST":
        if content_type.split(";")[0].strip().lower() != "application/ocsp-request" or len(body) > MAX_REQUEST:
            return Answer(400, [("Content-Type", "text/plain")], b"expected application/ocsp-request")
        der = body
    elif method == "GET":
        try:
            der = base64.b64decode(unquote(encoded or ""), validate=False)
        except (binascii.Error, ValueError):
            der = b""
    else:
        return Answer(405, [("Allow", "GET, POST"), ("Content-Type", "text/plain")], b"method not allowed")
    parsed = _parse(der)
    if parsed is None:
        return _ocsp_answer(MALFORMED)
    request, label, nonce = parsed
    if label not in HASHES:
        return _ocsp_answer(UNAUTHORIZED)  # no response is produced for other CertID hashes
    try:
        if nonce is not None and settings.MOBILECA_OCSP_LIVE_NONCE:
            return _ocsp_answer(_live_with_nonce(request, label, nonce, client))
        found = _lookup(request, label, client)
    except TooMany:
        return _ocsp_answer(TRY_LATER)
    except (KeyBackendError, DatabaseError):
        log.exception("OCSP answer failed")
        close_old_connections()
        return _ocsp_answer(TRY_LATER)
    if isinstance(found, bytes):
        return _ocsp_answer(found)
    etag = f'"{found.etag}"'
    headers = [("ETag", etag), ("Last-Modified", found.last_modified)]
    if method == "GET":  # RFC 5019 §6.2: cacheable until nextUpdate
        max_age = max(0, int(found.next_update - time.time()))
        headers += [
            ("Cache-Control", f"max-age={max_age}, public, no-transform, must-revalidate"),
            ("Expires", found.expires),
        ]
        if etag in [tag.strip() for tag in if_none_match.split(",")]:
            return Answer(304, headers, b"")
    return Answer(200, [("Content-Type", "application/ocsp-response"), *headers], found.der)
