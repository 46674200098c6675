"""The time-stamping authority (RFC 3161, with RFC 5816's ESSCertIDv2): tokens that prove a hash existed at a time.

* **Unit**: one active time-stamping unit (``TimeStampUnit``): an ECDSA P-256 key in the CA's key back-end (a
  sealed key file or a non-extractable PKCS#11 key, like the CA keys) and its certificate below the issuing CA
  (``profiles.tsa_certificate``: extended key usage id-kp-timeStamping, critical and alone). ``tsa_ensure`` (run by
  ``ca_init``) creates it once; ``tsa_rotate`` makes a new one, the old one staying known for verification.
* **Requests** (``respond``, the whole protocol over HTTP): a DER ``TimeStampReq`` v1 with a SHA-256, SHA-384 or
  SHA-512 imprint of the right length; a requested policy other than ours, any request extension, another hash or
  an unreadable request is answered with a ``PKIStatusInfo`` rejection naming the failure (badAlg, badRequest,
  badDataFormat, unacceptedPolicy, unacceptedExtension; systemFailure when the key back-end or the database
  fails), never with an HTTP error.
* **Tokens**: CMS SignedData (RFC 5652) over an id-ct-TSTInfo: version 1, the TSA policy
  (``MOBILECA_TSA_POLICY_OID``), the request's message imprint as sent, a unique serial number, genTime to the
  millisecond from the platform's clock, the stated accuracy (``MOBILECA_TSA_ACCURACY_MS``), the request's nonce,
  the unit's name; signed attributes content type, message digest and signingCertificateV2 (ESSCertIDv2, SHA-256
  of the unit's certificate with issuer and serial, RFC 5816); the unit's certificate in the token when the request
  asks for it (certReq).
* **Serial numbers**: the next value of a database sequence (``TimeStampSerial``) in the high bits and 64 random
  bits below it: unique whatever the concurrency, in every process of every host (the sequence never repeats), and
  unpredictable like a certificate serial.
* **Verification** (``token_verify``): what the platform checks of a token it keeps (a sealed bid's): the signature,
  the attributes, the signing certificate being one of our units' (path to our root at genTime, EKU, not revoked
  before genTime), and the imprint.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store, VerificationError
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.views.decorators.debug import sensitive_variables

from mobileca.audit.services import Actor, audit_record
from mobileca.ca import ocsp
from mobileca.ca.backends import KeyBackend, KeyBackendError
from mobileca.ca.backends.factory import backend as configured_backend
from mobileca.ca.models import (
    Authority,
    AuthorityRole,
    CertStatus,
    IssuedCertificate,
    TimeStampSerial,
    TimeStampUnit,
    Usage,
)
from mobileca.ca.profiles import tsa_certificate
from mobileca.core.clock import now
from mobileca.core.errors import NotFound

log = logging.getLogger(__name__)
_SYSTEM = Actor("system", "tsa")

# The hash algorithms a message imprint may use (OID -> name, digest length), nothing weaker than SHA-256.
HASHES: dict[str, tuple[str, int]] = {
    "2.16.840.1.101.3.4.2.1": ("sha256", 32),
    "2.16.840.1.101.3.4.2.2": ("sha384", 48),
    "2.16.840.1.101.3.4.2.3": ("sha512", 64),
}
MAX_REQUEST = 8192  # a TimeStampReq is about 100 bytes; nothing legitimate comes near this
MAX_NONCE_BITS = 512
REQUEST_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"


def policy() -> str:
    """The TSA policy every token names (``MOBILECA_TSA_POLICY_OID``)."""
    return str(settings.MOBILECA_TSA_POLICY_OID)


def accuracy() -> tsp.Accuracy:
    millis = int(settings.MOBILECA_TSA_ACCURACY_MS)
    seconds, rest = divmod(millis, 1000)
    value: dict[str, int] = {}
    if seconds:
        value["seconds"] = seconds
    if rest:
        value["millis"] = rest
    return tsp.Accuracy(value)


# --- the unit ---------------------------------------------------------------------------------------------------


@sensitive_variables()
def tsa_ensure(*, key_backend: KeyBackend | None = None) -> TimeStampUnit:
    """The active time-stamping unit, created (key and certificate) the first time. Idempotent."""
    found = TimeStampUnit.objects.filter(is_active=True).select_related("certificate").first()
    if found is not None:
        return found
    return tsa_rotate(key_backend=key_backend)


@sensitive_variables()
def tsa_rotate(*, key_backend: KeyBackend | None = None) -> TimeStampUnit:
    """A new time-stamping unit: a new key in the back-end and its certificate from the active issuing CA. The
    previous unit signs nothing more; its certificate stays valid (its tokens keep verifying)."""
    keys = key_backend or configured_backend()
    issuing = Authority.objects.filter(role=AuthorityRole.ISSUING, is_active=True).first()
    if issuing is None:
        raise NotFound("证书认证机构尚未初始化", code="ca_not_initialised")
    label = f"mobileca-tsa-{secrets.token_hex(4)}"
    public = keys.create_signing_key(label, ec.SECP256R1())
    issuer = x509.load_der_x509_certificate(bytes(issuing.certificate_der))
    certificate = tsa_certificate(
        issuer_key=keys.signing_key(issuing.key_label), issuer=issuer, public_key=public, now=now()
    )
    with transaction.atomic():
        TimeStampUnit.objects.filter(is_active=True).update(is_active=False)
        record = IssuedCertificate.objects.create(
            authority=issuing,
            serial_hex=f"{certificate.serial_number:x}",
            owner_id=f"tsa:{label}",
            usage=Usage.TIMESTAMP,
            subject_cn=certificate.subject.rfc4514_string()[:200],
            certificate_der=certificate.public_bytes(serialization.Encoding.DER),
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            created_at=now(),
        )
        unit = TimeStampUnit.objects.create(
            certificate=record, key_backend=keys.name, key_label=label, is_active=True, created_at=now()
        )
        audit_record(
            action="ca.tsa_created",
            subject="ca:tsa",
            actor=_SYSTEM,
            data={"serial": record.serial_hex, "backend": keys.name},
        )
    ocsp.ocsp_produce([record], key_backend=keys)
    return unit


@dataclass(frozen=True)
class _Unit:
    """The active unit as this process signs with it (cached like the issuing authority in ``services``)."""

    pk: int
    key_label: str
    certificate: x509.Certificate
    certificate_der: bytes
    tsa_name: bytes  # TSTInfo's tsa: [0] EXPLICIT GeneralName directoryName, DER
    sid: bytes  # the SignerInfo's IssuerAndSerialNumber, DER
    signing_certificate: bytes  # the signingCertificateV2 attribute (ESSCertIDv2), DER: the same in every token
    not_after: datetime
    signer: ec.EllipticCurvePrivateKey
    backend: KeyBackend


_unit_cache: _Unit | None = None
_SERIAL_TABLE = TimeStampSerial._meta.db_table
_UNIT_TABLE = TimeStampUnit._meta.db_table


def _next_serial_and_unit() -> tuple[int, tuple[int, str] | None]:
    """The next value of the serial sequence and the active unit (primary key, key label): one round trip on
    PostgreSQL (``nextval`` of the table's identity sequence, no row); on SQLite one row inserted, older ones
    deleted (AUTOINCREMENT never hands a value out twice)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT nextval(pg_get_serial_sequence('{_SERIAL_TABLE}', 'id')), "  # noqa: S608 - no user input
                f"(SELECT id FROM {_UNIT_TABLE} WHERE is_active LIMIT 1), "
                f"(SELECT key_label FROM {_UNIT_TABLE} WHERE is_active LIMIT 1)"
            )
            sequence, unit_id, label = cursor.fetchone()
        else:
            with transaction.atomic():
                cursor.execute(f"INSERT INTO {_SERIAL_TABLE} DEFAULT VALUES")
                sequence = cursor.lastrowid
                cursor.execute(f"DELETE FROM {_SERIAL_TABLE} WHERE id < %s", [sequence])  # noqa: S608
            cursor.execute(f"SELECT id, key_label FROM {_UNIT_TABLE} WHERE is_active LIMIT 1")  # noqa: S608
            row = cursor.fetchone()
            unit_id, label = row if row else (None, None)
    return int(sequence), ((int(unit_id), str(label)) if unit_id is not None else None)


@sensitive_variables()
def _unit(active: tuple[int, str] | None, key_backend: KeyBackend | None) -> _Unit:
    global _unit_cache  # the per-process cache of the active unit
    if active is None:
        raise NotFound("时间戳服务尚未初始化", code="tsa_not_initialised")
    keys = key_backend or configured_backend()
    cached = _unit_cache
    if cached is not None and (cached.pk, cached.key_label) == active and cached.backend is keys:
        return cached
    record = TimeStampUnit.objects.select_related("certificate__authority").get(pk=active[0])
    der = bytes(record.certificate.certificate_der)
    certificate = x509.load_der_x509_certificate(der)
    parsed = asn1_x509.Certificate.load(der)
    fresh = _Unit(
        pk=record.pk,
        key_label=record.key_label,
        certificate=certificate,
        certificate_der=der,
        tsa_name=_tlv(_CONTEXT_0, asn1_x509.GeneralName({"directory_name": parsed.subject}).dump()),
        sid=cms.IssuerAndSerialNumber({"issuer": parsed.issuer, "serial_number": parsed.serial_number}).dump(),
        signing_certificate=_signing_certificate_attribute(parsed).dump(),
        not_after=certificate.not_valid_after_utc,
        signer=keys.signing_key(record.key_label),
        backend=keys,
    )
    _unit_cache = fresh
    return fresh


def _signing_certificate_attribute(certificate: asn1_x509.Certificate) -> cms.CMSAttribute:
    """signingCertificateV2 (RFC 5035, required for tokens by RFC 5816): the SHA-256 of the unit's certificate
    (the default algorithm, so left out of the DER) with its issuer and serial number."""
    issuer_serial = tsp.IssuerSerial(
        {
            "issuer": [asn1_x509.GeneralName({"directory_name": certificate.issuer})],
            "serial_number": certificate.serial_number,
        }
    )
    cert_id = tsp.ESSCertIDv2(
        {"cert_hash": hashlib.sha256(certificate.dump()).digest(), "issuer_serial": issuer_serial}
    )
    return cms.CMSAttribute(
        {"type": "signing_certificate_v2", "values": [tsp.SigningCertificateV2({"certs": [cert_id]})]}
    )


# --- requests and replies ---------------------------------------------------------------------------------------


class Rejected(Exception):
    """A request the TSA does not answer with a token: ``failure`` is the PKIFailureInfo bit's name."""

    def __init__(self, failure: str, text: str) -> None:
        super().__init__(text)
        self.failure, self.text = failure, text


class _TimeStampResp(core.Sequence):
    """RFC 3161's TimeStampResp, whose timeStampToken is OPTIONAL (asn1crypto's ``tsp.TimeStampResp`` requires it,
    so a rejection could not be written with it)."""

    _fields = [("status", tsp.PKIStatusInfo), ("time_stamp_token", cms.ContentInfo, {"optional": True})]


def rejection(failure: str, text: str) -> bytes:
    """A TimeStampResp with status rejection, the failure bit and a text (RFC 3161 §2.4.2)."""
    return _TimeStampResp(
        {
            "status": tsp.PKIStatusInfo(
                {"status": "rejection", "status_string": [text], "fail_info": tsp.PKIFailureInfo({failure})}
            )
        }
    ).dump()


@dataclass(frozen=True)
class Request:
    imprint: tsp.MessageImprint
    nonce: int | None
    cert_req: bool


def imprint_of(hash_oid: str, digest: bytes) -> tsp.MessageImprint:
    """A message imprint checked as a request's: one of our hash algorithms, a digest of its length."""
    known = HASHES.get(hash_oid)
    if known is None:
        raise Rejected("bad_alg", f"unsupported hash algorithm {hash_oid}: use SHA-256, SHA-384 or SHA-512")
    if len(digest) != known[1]:
        raise Rejected("bad_data_format", f"a {known[0]} digest has {known[1]} bytes, not {len(digest)}")
    return tsp.MessageImprint(
        {"hash_algorithm": algos.DigestAlgorithm({"algorithm": hash_oid}), "hashed_message": digest}
    )


def parse_request(der: bytes) -> Request:
    """A TimeStampReq read and checked (RFC 3161 §2.4.1); ``Rejected`` with the failure to answer otherwise."""
    if not der or len(der) > MAX_REQUEST:
        raise Rejected("bad_data_format", "empty or oversized request")
    try:
        request = tsp.TimeStampReq.load(der, strict=True)
        version = request["version"].native
        algorithm = request["message_imprint"]["hash_algorithm"]
        oid = algorithm["algorithm"].dotted
        parameters = algorithm["parameters"]
        digest = request["message_imprint"]["hashed_message"].native
        requested_policy = request["req_policy"].dotted if request["req_policy"].native is not None else None
        nonce = request["nonce"].native
        cert_req = bool(request["cert_req"].native)
        extensions = request["extensions"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise Rejected("bad_data_format", f"unreadable TimeStampReq: {exc}") from None
    if version != "v1":
        raise Rejected("bad_request", "only TimeStampReq version 1 is known")
    if parameters.native is not None:  # absent or NULL, as RFC 5754 writes the SHA-2 identifiers
        raise Rejected("bad_alg", "hash algorithm parameters must be absent or NULL")
    imprint_of(oid, digest)  # refuses another algorithm or length
    if requested_policy is not None and requested_policy != policy():
        raise Rejected("unaccepted_policy", f"this TSA only issues tokens under policy {policy()}")
    if extensions:
        raise Rejected("unaccepted_extensions", "no request extension is supported")
    if nonce is not None and abs(nonce).bit_length() > MAX_NONCE_BITS:
        raise Rejected("bad_request", f"the nonce is longer than {MAX_NONCE_BITS} bits")
    return Request(imprint=request["message_imprint"], nonce=nonce, cert_req=cert_req)


def respond(der: bytes, *, key_backend: KeyBackend | None = None) -> bytes:
    """The TimeStampResp for a DER request: a token, or a rejection saying why. Never raises for what a client
    sends, nor for an unavailable key back-end or database (systemFailure)."""
    try:
        request = parse_request(der)
        token = stamp(request, key_backend=key_backend)
    except Rejected as refusal:
        return rejection(refusal.failure, refusal.text)
    except (KeyBackendError, DatabaseError, NotFound) as exc:
        log.error("time-stamping failed: %s", exc)
        return rejection("system_failure", "the time-stamping service is unavailable; try again")
    return _tlv(_SEQUENCE, _GRANTED + token)


def _gen_time() -> datetime:
    moment = now()
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)  # to the millisecond


def _tlv(tag: int, content: bytes) -> bytes:
    """One DER element: tag, definite length, content."""
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


_SEQUENCE, _SET, _OCTET_STRING, _CONTEXT_0 = 0x30, 0x31, 0x04, 0xA0
_VERSION_1, _VERSION_3 = core.Integer(1).dump(), core.Integer(3).dump()
_SHA256_ALGORITHM = algos.DigestAlgorithm({"algorithm": "sha256"}).dump()
_ECDSA_SHA256 = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}).dump()
_TST_INFO_OID = core.ObjectIdentifier("1.2.840.113549.1.9.16.1.4").dump()
_SIGNED_DATA_OID = core.ObjectIdentifier("1.2.840.113549.1.7.2").dump()
_CONTENT_TYPE_ATTRIBUTE = cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}).dump()
_MESSAGE_DIGEST_OID = core.ObjectIdentifier("1.2.840.113549.1.9.4").dump()
_GRANTED = tsp.PKIStatusInfo({"status": "granted"}).dump()


@sensitive_variables()
def stamp(request: Request, *, key_backend: KeyBackend | None = None) -> bytes:
    """A time-stamp token (ContentInfo DER) for a checked request.

    The structures are the ones above (TSTInfo, SignedData, SignerInfo of RFC 3161 and RFC 5652), written as DER
    from pieces encoded once per unit (its name, sid, signingCertificateV2 attribute, certificate): asn1crypto builds
    the same token, but re-encodes the certificate and names on every one, some 60 ms a token."""
    sequence, active = _next_serial_and_unit()
    unit = _unit(active, key_backend)
    moment = _gen_time()
    if moment >= unit.not_after:
        raise KeyBackendError("the time-stamping unit's certificate has expired: run tsa rotation")
    fields = [
        _VERSION_1,
        core.ObjectIdentifier(policy()).dump(),
        request.imprint.dump(),
        core.Integer((sequence << 64) | secrets.randbits(64)).dump(),
        core.GeneralizedTime(moment).dump(),
        accuracy().dump(),
    ]
    if request.nonce is not None:
        fields.append(core.Integer(request.nonce).dump())
    fields.append(unit.tsa_name)
    content = _tlv(_SEQUENCE, b"".join(fields))
    message_digest = _tlv(
        _SEQUENCE, _MESSAGE_DIGEST_OID + _tlv(_SET, _tlv(_OCTET_STRING, hashlib.sha256(content).digest()))
    )
    attributes = b"".join(sorted([_CONTENT_TYPE_ATTRIBUTE, message_digest, unit.signing_certificate]))  # DER SET OF
    signature = unit.signer.sign(_tlv(_SET, attributes), ec.ECDSA(hashes.SHA256()))
    signer_info = _tlv(
        _SEQUENCE,
        _VERSION_1
        + unit.sid
        + _SHA256_ALGORITHM
        + _tlv(_CONTEXT_0, attributes)  # [0] IMPLICIT SET OF Attribute
        + _ECDSA_SHA256
        + _tlv(_OCTET_STRING, signature),
    )
    encapsulated = _tlv(_SEQUENCE, _TST_INFO_OID + _tlv(_CONTEXT_0, _tlv(_OCTET_STRING, content)))
    signed_data = _tlv(
        _SEQUENCE,
        _VERSION_3  # the content is not id-data (RFC 5652 §5.1)
        + _tlv(_SET, _SHA256_ALGORITHM)
        + encapsulated
        + (_tlv(_CONTEXT_0, unit.certificate_der) if request.cert_req else b"")  # [0] IMPLICIT CertificateSet
        + _tlv(_SET, signer_info),
    )
    return _tlv(_SEQUENCE, _SIGNED_DATA_OID + _tlv(_CONTEXT_0, signed_data))


def stamp_digest(
    *, hash_oid: str, digest: bytes, nonce: int | None = None, key_backend: KeyBackend | None = None
) -> bytes:
    """A token (with the unit's certificate) for a digest: the CSC method and the platform's own use (sealed bids).
    ``Rejected`` for an algorithm or length the TSA does not take."""
    if nonce is not None and abs(nonce).bit_length() > MAX_NONCE_BITS:
        raise Rejected("bad_request", f"the nonce is longer than {MAX_NONCE_BITS} bits")
    return stamp(Request(imprint_of(hash_oid, digest), nonce, True), key_backend=key_backend)


# --- verification -----------------------------------------------------------------------------------------------


class TokenInvalid(Exception):
    """A token that does not verify, does not match, or is not one of this TSA's."""


class ImprintMismatch(TokenInvalid):
    """A valid token of ours, but over another hash than the one it is checked against."""


@dataclass(frozen=True)
class VerifiedToken:
    gen_time: datetime
    serial_number: int
    policy: str
    hash_oid: str
    hashed_message: bytes
    tsa_serial_hex: str  # the unit's certificate


_SHA256 = "2.16.840.1.101.3.4.2.1"


def token_verify(token: bytes, *, digest: bytes | None = None, hash_oid: str = _SHA256) -> VerifiedToken:
    """Check a token of this TSA: structure, signed attributes (content type, message digest, ESSCertIDv2 of the
    signer), the signature, the signer being one of our time-stamping units (its certificate recorded by us,
    chaining to our root at genTime, EKU timeStamping, not revoked before genTime) and, if ``digest`` is given,
    that the imprint is ``digest`` under ``hash_oid``."""
    try:
        info = cms.ContentInfo.load(token, strict=True)
        if info["content_type"].native != "signed_data":
            raise TokenInvalid("not a SignedData")
        signed = info["content"]
        encapsulated = signed["encap_content_info"]
        if encapsulated["content_type"].native != "tst_info":
            raise TokenInvalid("the content is not a TSTInfo")
        content = encapsulated["content"].contents
        tst = tsp.TSTInfo.load(content, strict=True)
        signers = list(signed["signer_infos"])
        if len(signers) != 1:
            raise TokenInvalid("expected exactly one signer")
        signer = signers[0]
        sid = signer["sid"]
        if sid.name != "issuer_and_serial_number":
            raise TokenInvalid("the signer is not named by issuer and serial")
        serial = sid.chosen["serial_number"].native
        attributes = signer["signed_attrs"]
        values = {attribute["type"].native: attribute["values"] for attribute in attributes}
        to_verify = b"\x31" + attributes.dump()[1:]
        signature = signer["signature"].native
        signature_algorithm = signer["signature_algorithm"]["algorithm"].native
        digest_algorithm = signer["digest_algorithm"]["algorithm"].native
        gen_time = tst["gen_time"].native
        imprint = tst["message_imprint"]
        imprint_oid, imprint_digest = imprint["hash_algorithm"]["algorithm"].dotted, imprint["hashed_message"].native
        signing_certificates = values.get("signing_certificate_v2")
        cert_hash = signing_certificates[0]["certs"][0]["cert_hash"].native if signing_certificates else None
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise TokenInvalid(f"malformed token: {exc}") from exc
    if values.get("content_type") is None or values["content_type"][0].native != "tst_info":
        raise TokenInvalid("the signed content type is not id-ct-TSTInfo")
    if digest_algorithm != "sha256" or signature_algorithm != "sha256_ecdsa":
        raise TokenInvalid("unexpected algorithms")
    if values.get("message_digest") is None or values["message_digest"][0].native != hashlib.sha256(content).digest():
        raise TokenInvalid("the TSTInfo does not match the signed message digest")
    record = IssuedCertificate.objects.filter(usage=Usage.TIMESTAMP, serial_hex=f"{serial:x}").first()
    if record is None:
        raise TokenInvalid("not signed by a time-stamping unit of this platform")
    der = bytes(record.certificate_der)
    if cert_hash != hashlib.sha256(der).digest():
        raise TokenInvalid("the signingCertificateV2 attribute does not name the signer's certificate")
    certificate = x509.load_der_x509_certificate(der)
    public_key = certificate.public_key()
    try:
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        public_key.verify(signature, to_verify, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, AssertionError) as exc:
        raise TokenInvalid("the token's signature does not verify") from exc
    _check_unit_certificate(certificate, record, gen_time)
    if digest is not None and (imprint_oid != hash_oid or imprint_digest != digest):
        raise ImprintMismatch("the token is for another hash")
    return VerifiedToken(
        gen_time=gen_time,
        serial_number=tst["serial_number"].native,
        policy=tst["policy"].dotted,
        hash_oid=imprint_oid,
        hashed_message=imprint_digest,
        tsa_serial_hex=record.serial_hex,
    )


def _check_unit_certificate(certificate: x509.Certificate, record: IssuedCertificate, gen_time: datetime) -> None:
    root = Authority.objects.filter(role=AuthorityRole.ROOT, is_active=True).first()
    if root is None:
        raise TokenInvalid("the CA is not initialised")
    issuers = [
        x509.load_der_x509_certificate(bytes(der))
        for der in Authority.objects.filter(role=AuthorityRole.ISSUING).values_list("certificate_der", flat=True)
    ]
    if not certificate.not_valid_before_utc <= gen_time <= certificate.not_valid_after_utc:
        raise TokenInvalid("genTime is outside the time-stamping certificate's validity")
    try:
        (
            PolicyBuilder()
            .store(Store([x509.load_der_x509_certificate(bytes(root.certificate_der))]))
            .time(gen_time)
            .max_chain_depth(2)
            .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all())
            .build_client_verifier()
            .verify(certificate, issuers)
        )
    except VerificationError as exc:
        raise TokenInvalid(f"the time-stamping certificate does not chain to our root: {exc}") from exc
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    if not usage.critical or list(usage.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise TokenInvalid("the signer's certificate is not a time-stamping certificate")
    if record.status == CertStatus.REVOKED and (
        record.revocation_reason == x509.ReasonFlags.key_compromise.name
        or record.revoked_at is None
        or record.revoked_at <= gen_time
    ):
        raise TokenInvalid("the time-stamping certificate was revoked")


def gen_time_of(token: bytes) -> datetime:
    """The genTime a token states (unverified: call ``token_verify`` first)."""
    info = cms.ContentInfo.load(token)
    return tsp.TSTInfo.load(info["content"]["encap_content_info"]["content"].contents)["gen_time"].native
