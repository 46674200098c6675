"""The national-algorithm (国密) PKI: SM2 certificates, CRLs and OCSP responses, built with asn1crypto (issue 19).

``cryptography`` cannot sign a certificate with SM2/SM3, so the to-be-signed structures are built here with
asn1crypto and their DER handed to a *signer*, any ``Callable[[bytes], bytes]`` that returns the DER SM2 signature
``SEQUENCE {r, s}`` over those bytes, made with SM3 and the distinguishing ID 1234567812345678 (GM/T 0009): a key of
``mobileca.ca.sm2``, a key back-end, the remote signer. Nothing here imports Django: every builder takes keys,
names, serials, URLs and times, so the CA services, the command-line tool and the tests use the same functions.

What the certificates carry (the same information as the ECDSA hierarchy of ``profiles.py``, RFC 5280 and
GM/T 0015-2023 agreeing):

* Signature algorithm SM2-with-SM3, 1.2.156.10197.1.501, parameters *absent* (GM/T 0006, as BouncyCastle, GmSSL and
  OpenSSL write it); subject public keys ``id-ecPublicKey`` on the curve 1.2.156.10197.1.301 (``Sm2PublicKey.der``).
* Root: self-signed, CA without path limit, keyCertSign + cRLSign (critical), subject key identifier.
* Issuing CA: CA with pathLen 0, keyCertSign + cRLSign + digitalSignature (it signs OCSP responses), the root's CRL
  distribution point and caIssuers, the platform's certificate policy.
* End entity, the dual certificates of GM practice (GM/T 0015-2023 keeps separate content tables for signing and
  encryption certificates; GB/T 25056 / GM/T 0034 dual-certificate systems): the subject of ``profiles.entity_name``
  (``C=CN, O=<enterprise>, organizationIdentifier=NTRCN-<unified social credit code>, [description=<full name>],
  CN=<enterprise>, givenName=<claimant>``), key identifiers, CRL distribution point, AIA (OCSP, caIssuers), the
  platform's policy, and

  - the *signing* certificate: digitalSignature + nonRepudiation;
  - the *encryption* certificate: keyEncipherment + dataEncipherment + keyAgreement. An SM2 encryption key is used
    for SM2 public-key encryption of content keys (GM/T 0009 ``SM2Cipher``, GB/T 35275 EnvelopedData with 301.3)
    and for SM2 key exchange (GM/T 0003.3), which is what GM dual-certificate profiles mark with these three bits.
    RFC 5480 §3 forbids keyEncipherment/dataEncipherment for *ECDSA/ECDH* keys; pkilint applies that rule to the SM2
    key too (its finding ``pkix.key_usage_value_prohibited_for_ec``), which the tests filter with this reason.

* The unified social credit code: GM/T 0015-2012 defined private extensions under 1.2.156.10260.4.1 (.1 IdentifyCode,
  .2 InsuranceNumber, .3 ICRegistrationNumber, .4 OrganizationCode, .5 TaxationNumbers); GM/T 0015-2023's foreword
  says it *adds* a 统一社会信用代码 item, but its full text was not available to check the encoding, and the public
  implementations disagree on the OID (issuer SDKs put the code in 1.2.156.10260.4.1.4; XiPKI lists
  1.2.156.10260.4.4 for the 2023 edition). So the subject keeps ``organizationIdentifier`` ``NTRCN-<code>``
  (X.520 2.5.4.97, the ECDSA profile's and the CA/B Forum's NTR scheme), which every reader parses; a caller that
  must also meet one peer's extension passes ``uscc_extension_oid`` and gets a non-critical PrintableString
  extension with the code.

CRLs are v2 with an authority key identifier, a CRL number and reason codes ("unspecified" is said by leaving the
reason out, RFC 5280 §5.3.1). OCSP responses are RFC 6960 BasicOCSPResponses, responder ID by key hash, one
SingleResponse per CertID (SHA-1 or SHA-256), signed by the issuing CA itself or by a delegated responder whose
certificate (id-kp-OCSPSigning, id-pkix-ocsp-nocheck) is included.

``verify_certificate``/``verify_crl``/``verify_ocsp`` check our own objects with ``sm2`` (ID always explicit);
``validate_chain`` validates a path with CRLs through pyOpenSSL's ``X509Store`` on ``cryptography``'s bundled
OpenSSL (4.x, whose SM2 default ID is 1234567812345678; the system OpenSSL 3.0 cannot pass an ID for CRLs).

What is built at every issuance (``entity_name``, ``entity_certificate``, ``ocsp_response``) is assembled from DER
pieces instead: the issuer's name, key identifier and CertID hashes are parsed once per issuer certificate, the
constant extensions encoded once per issuer, usage, locations and policy (by asn1crypto, with the builders the CA
certificates use), and only the serial, times, key, status and signature written per call, so that the SM2 signature
is most of the cost. The asn1crypto builders stay as ``_reference_entity_name``, ``_reference_entity_certificate``
and ``_reference_ocsp_response``, and the tests hold the two byte for byte equal.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from asn1crypto import algos, cms, core, keys
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509

from mobileca.ca import sm2

Signer = Callable[[bytes], bytes]

SM2_CURVE_OID = sm2.SM2_CURVE_OID
SM2_SIGN_OID = "1.2.156.10197.1.301.1"  # SM2-1, the signature scheme (GB/T 35275 SignerInfo in some peers)
SM2_ENCRYPT_OID = "1.2.156.10197.1.301.3"  # SM2-3, public-key encryption (GB/T 33560 key transport)
SM3_OID = sm2.SM3_OID
SM2_SM3_SIGNATURE_OID = sm2.SM2_SM3_SIGNATURE_OID
USCC_EXTENSION_OID_2012_ORG_CODE = "1.2.156.10260.4.1.4"  # what issuer SDKs read the code from (see the docstring)

BACKDATE = timedelta(minutes=5)  # as profiles.BACKDATE: tolerate clocks a little behind ours
UB_NAME = 64  # as profiles.UB_NAME
UB_DESCRIPTION = 1024  # as profiles.UB_DESCRIPTION
_TAIL = 6
_ELLIPSIS = "…"
_UTC_TIME_END = datetime(2050, 1, 1, tzinfo=UTC)  # RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime after


class GmError(ValueError):
    """Input a builder cannot use (not an SM2 key, a name too long, an unknown reason)."""


class GmVerifyError(GmError):
    """A certificate, CRL, OCSP response or path that does not verify. Every refusal looks the same to a caller;
    the message says what failed, for the log."""


# --- 1. OIDs in asn1crypto ----------------------------------------------------------------------------------------


def _map(cls: Any, oid: str, name: str) -> None:
    existing = cls._map.get(oid)
    if existing is not None and existing != name:
        return  # another module named it first: keep its name (the OID is what is encoded)
    cls._map[oid] = name
    if getattr(cls, "_reverse_map", None) is not None:
        cls._reverse_map[name] = oid


def register_oids() -> None:
    """Teach asn1crypto the GM OIDs (idempotent; run at import): the SM2 curve, SM3, SM2-with-SM3 (its hash, SM3, in
    ``SIGNATURE_HASHES``), SM2-1 (301.1) as a signature and SM2-3 (301.3) as a key-transport algorithm. A name
    another module gave one of these OIDs first is kept (only the OID is ever encoded)."""
    if SM2_CURVE_OID not in keys.NamedCurve._map:
        keys.NamedCurve.register("sm2p256v1", SM2_CURVE_OID, 32)
    _map(algos.DigestAlgorithmId, SM3_OID, "sm3")
    _map(algos.SignedDigestAlgorithmId, SM2_SM3_SIGNATURE_OID, "sm3_sm2")
    _map(algos.SignedDigestAlgorithmId, SM2_SIGN_OID, "sm2sign")
    _map(cms.KeyEncryptionAlgorithmId, SM2_ENCRYPT_OID, "sm2encrypt")


register_oids()

# The hash of each GM signature algorithm (SM2 signs SM3(Z_A || M)): asn1crypto's ``SignedDigestAlgorithm.hash_algo``
# reads a closed table, so readers of these algorithms ask here.
SIGNATURE_HASHES = {SM2_SM3_SIGNATURE_OID: SM3_OID, SM2_SIGN_OID: SM3_OID}


def _sm2_sm3() -> algos.SignedDigestAlgorithm:
    return algos.SignedDigestAlgorithm({"algorithm": SM2_SM3_SIGNATURE_OID})  # parameters absent


# --- names and keys -----------------------------------------------------------------------------------------------


def short_name(name: str) -> str:
    """An enterprise name within 64 UTF-8 bytes: the rule of ``profiles.short_name``, which is kept Django-free
    here (the tests hold both to the same answers)."""
    if len(name.encode()) <= UB_NAME:
        return name
    tail = name[-_TAIL:]
    budget = UB_NAME - len((_ELLIPSIS + tail).encode())
    head, used = [], 0
    for character in name[:-_TAIL]:
        used += len(character.encode())
        if used > budget:
            break
        head.append(character)
    return "".join(head) + _ELLIPSIS + tail


def _attribute(oid: str, value: str, *, printable: bool = False) -> asn1_x509.RelativeDistinguishedName:
    if oid == "2.5.4.13":  # description: not in asn1crypto's table, so given as an encoded DirectoryString
        encoded: Any = asn1_x509.DirectoryString(name="utf8_string", value=value)
    elif printable:
        encoded = core.PrintableString(value)
    else:
        encoded = asn1_x509.DirectoryString(name="utf8_string", value=value)
    return asn1_x509.RelativeDistinguishedName([asn1_x509.NameTypeAndValue({"type": oid, "value": encoded})])


def _name(rdns: Sequence[asn1_x509.RelativeDistinguishedName]) -> asn1_x509.Name:
    return asn1_x509.Name(name="", value=asn1_x509.RDNSequence(list(rdns)))


def ca_name(organization: str, common_name: str) -> asn1_x509.Name:
    """A CA's subject: ``C=CN, O=<seller>, CN=<name>`` (as ``profiles.ca_name``)."""
    return _name(
        [
            _attribute("2.5.4.6", "CN", printable=True),
            _attribute("2.5.4.10", organization),
            _attribute("2.5.4.3", common_name),
        ]
    )


def _entity_attributes(enterprise_name: str, uscc: str, claimant_name: str) -> list[tuple[str, str, bool]]:
    """A credential's subject attributes (OID, value, PrintableString?), in their order."""
    if not 0 < len(enterprise_name) <= UB_DESCRIPTION:
        raise GmError(f"an enterprise name has 1 to {UB_DESCRIPTION} characters")
    shown = short_name(enterprise_name)
    attributes = [("2.5.4.6", "CN", True), ("2.5.4.10", shown, False), ("2.5.4.97", f"NTRCN-{uscc}", False)]
    if shown != enterprise_name:
        attributes.append(("2.5.4.13", enterprise_name, False))
    return [*attributes, ("2.5.4.3", shown, False), ("2.5.4.42", claimant_name, False)]


def entity_name(*, enterprise_name: str, uscc: str, claimant_name: str) -> asn1_x509.Name:
    """A credential's subject, attribute for attribute that of ``profiles.entity_name``: written as DER (one
    attribute per RDN, PrintableString country, UTF8String otherwise) and loaded, so that putting it in a
    certificate costs nothing; ``_reference_entity_name`` builds the same bytes with asn1crypto."""
    attributes = _entity_attributes(enterprise_name, uscc, claimant_name)
    rdns = b"".join(
        _tlv(0x31, _tlv(0x30, _oid_der(oid) + _tlv(0x13 if printable else 0x0C, value.encode())))
        for oid, value, printable in attributes
    )
    return asn1_x509.Name.load(_tlv(0x30, rdns))


def _reference_entity_name(*, enterprise_name: str, uscc: str, claimant_name: str) -> asn1_x509.Name:
    """``entity_name`` built by asn1crypto from its values (the reference)."""
    attributes = _entity_attributes(enterprise_name, uscc, claimant_name)
    return _name([_attribute(oid, value, printable=printable) for oid, value, printable in attributes])


@lru_cache(maxsize=32)
def _oid_der(oid: str) -> bytes:
    return core.ObjectIdentifier(oid).dump()


def sm2_public_key_info(spki_der: bytes) -> keys.PublicKeyInfo:
    """The SubjectPublicKeyInfo of an SM2 key (id-ecPublicKey on curve 1.2.156.10197.1.301); anything else is
    refused."""
    try:
        info = keys.PublicKeyInfo.load(spki_der)
        algorithm = info["algorithm"]
        curve = algorithm["parameters"].chosen
        point = bytes(info["public_key"])
        is_sm2 = algorithm["algorithm"].dotted == "1.2.840.10045.2.1" and curve.dotted == SM2_CURVE_OID
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise GmError("not a SubjectPublicKeyInfo") from exc
    if not is_sm2 or len(point) != 65 or point[0] != 4:
        raise GmError("not an SM2 public key")
    return info


def key_identifier(spki_der: bytes) -> bytes:
    """RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits (what ``cryptography`` writes for the ECDSA
    hierarchy, and what an OCSP responder ID by key hash is)."""
    return hashlib.sha1(bytes(sm2_public_key_info(spki_der)["public_key"])).digest()  # noqa: S324


def serial_of(certificate_der: bytes) -> int:
    """A certificate's serial number."""
    return int(asn1_x509.Certificate.load(certificate_der).serial_number)


def random_serial() -> int:
    """A positive serial of at most 159 bits, 64 or more of them random (CA/B BR §7.1)."""
    return secrets.randbits(159) | 1


def _time(moment: datetime) -> asn1_x509.Time:
    moment = moment.astimezone(UTC).replace(microsecond=0)
    return asn1_x509.Time(name="utc_time" if moment < _UTC_TIME_END else "general_time", value=moment)


# --- DER pieces for the hot paths ---------------------------------------------------------------------------------
# A credential's certificates and pre-produced OCSP answers differ from one another only in a few values (serial,
# times, key, status, signature): the constant parts are encoded once by asn1crypto (per issuer, locations,
# policy) and the varying ones written here, so that building costs less than the SM2 signature. The result is
# byte for byte what the asn1crypto builders (``_reference_*``) write; tests/test_gm_speedups.py holds them equal.


def _tlv(tag: int, value: bytes) -> bytes:
    """One DER tag-length-value (single-byte tag, definite length)."""
    size = len(value)
    if size < 0x80:
        return bytes((tag, size)) + value
    width = (size.bit_length() + 7) // 8
    return bytes((tag, 0x80 | width)) + size.to_bytes(width, "big") + value


def _der_integer(value: int) -> bytes:
    """DER INTEGER: minimal two's complement."""
    magnitude = value if value >= 0 else ~value
    return _tlv(0x02, value.to_bytes((magnitude.bit_length() + 8) // 8, "big", signed=True))


def _der_generalized_time(moment: datetime) -> bytes:
    """DER GeneralizedTime ``YYYYMMDDHHMMSSZ`` of ``moment`` in UTC without its microseconds, as asn1crypto writes
    it (asn1crypto itself for years before 1000)."""
    moment = moment.astimezone(UTC).replace(microsecond=0)
    if moment.year < 1000:
        return core.GeneralizedTime(moment).dump()
    text = "%04d%02d%02d%02d%02d%02dZ" % (  # noqa: UP031 (several times faster than strftime or format)
        moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second
    )  # fmt: skip
    return b"\x18\x0f" + text.encode()


def _der_time(moment: datetime) -> bytes:
    """DER of ``_time(moment)``: UTCTime from 1950 through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5)."""
    moment = moment.astimezone(UTC).replace(microsecond=0)
    if moment >= _UTC_TIME_END:
        return _der_generalized_time(moment)
    if moment.year < 1950:
        return _time(moment).dump()
    text = "%02d%02d%02d%02d%02d%02dZ" % (  # noqa: UP031
        moment.year % 100, moment.month, moment.day, moment.hour, moment.minute, moment.second
    )  # fmt: skip
    return b"\x17\x0d" + text.encode()


_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")  # id-ecPublicKey, sm2 curve


def _sm2_point(public_key_der: bytes) -> tuple[bytes, bytes]:
    """(the SubjectPublicKeyInfo DER as the certificate carries it, the public point) of an SM2 key; the canonical
    encoding (``Sm2PublicKey.der``) is recognised by its bytes, anything else goes through ``sm2_public_key_info``
    (same acceptance, same refusal)."""
    if len(public_key_der) == len(_SPKI_PREFIX) + 65 and public_key_der.startswith(_SPKI_PREFIX):
        point = public_key_der[len(_SPKI_PREFIX) :]
        if point[0] == 4:
            return public_key_der, point
    info = sm2_public_key_info(public_key_der)
    return info.dump(), bytes(info["public_key"])


# --- 2. certificates ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Locations:
    """Where a certificate's issuer publishes: its CRL, its certificate, its OCSP responder (None: no AIA OCSP)."""

    crl: str
    ca_issuers: str
    ocsp: str | None = None


def _extension(extn_id: str, value: Any, *, critical: bool = False) -> asn1_x509.Extension:
    return asn1_x509.Extension({"extn_id": extn_id, "critical": critical, "extn_value": value})


def _uri(url: str) -> asn1_x509.GeneralName:
    return asn1_x509.GeneralName(name="uniform_resource_identifier", value=url)


def _sign_certificate(tbs: asn1_x509.TbsCertificate, signer: Signer) -> bytes:
    signature = signer(tbs.dump())
    return asn1_x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": _sm2_sm3(), "signature_value": signature}
    ).dump()


@dataclass(frozen=True)
class _Issuer:
    name: asn1_x509.Name
    key_id: bytes
    not_after: datetime


@dataclass(frozen=True)
class _IssuerFacts:
    """What the builders take from an issuer's certificate, parsed once per certificate (``_issuer_facts``)."""

    name_der: bytes
    key_id: bytes
    not_after: datetime


@lru_cache(maxsize=64)
def _issuer_facts(issuer_der: bytes) -> _IssuerFacts:
    try:
        certificate = asn1_x509.Certificate.load(issuer_der)
        spki = certificate["tbs_certificate"]["subject_public_key_info"].dump()
        return _IssuerFacts(certificate.subject.dump(), key_identifier(spki), certificate.not_valid_after)
    except (ValueError, TypeError, KeyError) as exc:
        raise GmError("the issuer is not an SM2 certificate") from exc


def _issuer_of(issuer_der: bytes) -> _Issuer:
    facts = _issuer_facts(issuer_der)
    return _Issuer(asn1_x509.Name.load(facts.name_der), facts.key_id, facts.not_after)


def _certificate(
    *,
    signer: Signer,
    subject: asn1_x509.Name,
    issuer: asn1_x509.Name,
    issuer_key_id: bytes | None,
    issuer_not_after: datetime | None,
    public_key_der: bytes,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    ca: bool,
    path_length: int | None,
    key_usage: set[str],
    locations: Locations | None,
    policy_oid: str | None,
    extended_key_usage: list[str] | None = None,
    ocsp_no_check: bool = False,
    extra: Iterable[asn1_x509.Extension] = (),
) -> bytes:
    spki = sm2_public_key_info(public_key_der)
    if serial <= 0 or serial.bit_length() > 159:
        raise GmError("a serial number is positive and at most 20 octets")
    if issuer_not_after is not None:
        not_after = min(not_after, issuer_not_after)  # never valid past its issuer
    extensions = _extensions(
        subject_key_id=key_identifier(public_key_der),
        issuer_key_id=issuer_key_id,
        ca=ca,
        path_length=path_length,
        key_usage=key_usage,
        locations=locations,
        policy_oid=policy_oid,
        extended_key_usage=extended_key_usage,
        ocsp_no_check=ocsp_no_check,
        extra=extra,
    )
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": _sm2_sm3(),
            "issuer": issuer,
            "validity": {"not_before": _time(not_before), "not_after": _time(not_after)},
            "subject": subject,
            "subject_public_key_info": spki,
            "extensions": extensions,
        }
    )
    return _sign_certificate(tbs, signer)


def _extensions(
    *,
    subject_key_id: bytes,
    issuer_key_id: bytes | None,
    ca: bool,
    path_length: int | None,
    key_usage: set[str],
    locations: Locations | None,
    policy_oid: str | None,
    extended_key_usage: list[str] | None,
    ocsp_no_check: bool,
    extra: Iterable[asn1_x509.Extension],
) -> list[asn1_x509.Extension]:
    """A certificate's extensions, in their order."""
    constraints: dict[str, Any] = {"ca": ca}
    if ca and path_length is not None:
        constraints["path_len_constraint"] = path_length
    extensions = [
        _extension("basic_constraints", constraints, critical=True),
        _extension("key_usage", key_usage, critical=True),
    ]
    if extended_key_usage:
        extensions.append(_extension("extended_key_usage", extended_key_usage, critical=True))
    extensions.append(_extension("key_identifier", subject_key_id))
    if issuer_key_id is not None:
        extensions.append(_extension("authority_key_identifier", {"key_identifier": issuer_key_id}))
    if locations is not None:
        url = _uri(locations.crl)
        extensions.append(_extension("crl_distribution_points", [{"distribution_point": {"full_name": [url]}}]))
        access = []
        if locations.ocsp:
            access.append({"access_method": "ocsp", "access_location": _uri(locations.ocsp)})
        access.append({"access_method": "ca_issuers", "access_location": _uri(locations.ca_issuers)})
        extensions.append(_extension("authority_information_access", access))
    if policy_oid:
        extensions.append(_extension("certificate_policies", [{"policy_identifier": policy_oid}]))
    if ocsp_no_check:
        extensions.append(_extension("ocsp_no_check", core.Null()))
    extensions += list(extra)
    return extensions


def root_certificate(
    *,
    signer: Signer,
    public_key_der: bytes,
    name: asn1_x509.Name,
    now: datetime,
    serial: int | None = None,
    years: int = 20,
) -> bytes:
    """A self-signed SM2 root: CA without path limit, keyCertSign + cRLSign."""
    return _certificate(
        signer=signer,
        subject=name,
        issuer=name,
        issuer_key_id=None,
        issuer_not_after=None,
        public_key_der=public_key_der,
        serial=random_serial() if serial is None else serial,
        not_before=now - BACKDATE,
        not_after=now + timedelta(days=365 * years),
        ca=True,
        path_length=None,
        key_usage={"key_cert_sign", "crl_sign"},
        locations=None,
        policy_oid=None,
    )


def issuing_certificate(
    *,
    root_signer: Signer,
    root_der: bytes,
    public_key_der: bytes,
    name: asn1_x509.Name,
    locations: Locations,
    policy_oid: str,
    now: datetime,
    serial: int | None = None,
    years: int = 10,
) -> bytes:
    """An SM2 issuing CA below the root: pathLen 0, keyCertSign + cRLSign + digitalSignature (OCSP), the root's
    CRL and certificate, the platform's policy."""
    root = _issuer_of(root_der)
    return _certificate(
        signer=root_signer,
        subject=name,
        issuer=root.name,
        issuer_key_id=root.key_id,
        issuer_not_after=root.not_after,
        public_key_der=public_key_der,
        serial=random_serial() if serial is None else serial,
        not_before=now - BACKDATE,
        not_after=now + timedelta(days=365 * years),
        ca=True,
        path_length=0,
        key_usage={"key_cert_sign", "crl_sign", "digital_signature"},
        locations=Locations(crl=locations.crl, ca_issuers=locations.ca_issuers, ocsp=None),
        policy_oid=policy_oid,
    )


ENTITY_USAGES: dict[str, set[str]] = {
    "sign": {"digital_signature", "non_repudiation"},
    "encrypt": {"key_encipherment", "data_encipherment", "key_agreement"},
}


def entity_certificate(
    *,
    issuer_signer: Signer,
    issuer_der: bytes,
    subject: asn1_x509.Name,
    usage: str,
    public_key_der: bytes,
    locations: Locations,
    policy_oid: str,
    not_before: datetime,
    not_after: datetime,
    serial: int | None = None,
    uscc: str | None = None,
    uscc_extension_oid: str | None = None,
) -> bytes:
    """One of a credential's dual certificates (``usage`` "sign" or "encrypt"; key usages in the module's
    docstring). ``uscc_extension_oid`` (with ``uscc``) adds the code as a non-critical PrintableString extension
    for a peer that reads it there.

    Assembled from DER pieces: the issuer's name and key identifier are parsed once per issuer certificate, the
    extensions other than the subject key identifier encoded once per issuer, usage, locations and policy; what
    ``_reference_entity_certificate`` builds with asn1crypto, byte for byte."""
    if usage not in ENTITY_USAGES:
        raise GmError('usage is "sign" or "encrypt"')
    if uscc_extension_oid and not uscc:
        raise GmError("the unified social credit code is needed for its extension")
    issuer = _issuer_facts(issuer_der)
    spki, point = _sm2_point(public_key_der)
    serial = random_serial() if serial is None else serial
    if serial <= 0 or serial.bit_length() > 159:
        raise GmError("a serial number is positive and at most 20 octets")
    before, after = _entity_extensions(
        usage, issuer.key_id, locations, policy_oid, uscc if uscc_extension_oid else None, uscc_extension_oid
    )
    subject_key_id = _SKI_EXTENSION_PREFIX + hashlib.sha1(point).digest()  # noqa: S324 (RFC 5280 method 1)
    validity = _der_time(not_before) + _der_time(min(not_after, issuer.not_after))
    tbs = _tlv(
        0x30,
        b"".join(
            (
                _V3,
                _der_integer(serial),
                _SM2_SM3_DER,
                issuer.name_der,
                _tlv(0x30, validity),
                subject.dump(),
                spki,
                _tlv(0xA3, _tlv(0x30, before + subject_key_id + after)),
            )
        ),
    )
    return _tlv(0x30, tbs + _SM2_SM3_DER + _tlv(0x03, b"\x00" + issuer_signer(tbs)))


def _reference_entity_certificate(
    *,
    issuer_signer: Signer,
    issuer_der: bytes,
    subject: asn1_x509.Name,
    usage: str,
    public_key_der: bytes,
    locations: Locations,
    policy_oid: str,
    not_before: datetime,
    not_after: datetime,
    serial: int | None = None,
    uscc: str | None = None,
    uscc_extension_oid: str | None = None,
) -> bytes:
    """``entity_certificate`` built wholly with asn1crypto, as the CA and responder certificates are: the
    reference the fast path is held to."""
    if usage not in ENTITY_USAGES:
        raise GmError('usage is "sign" or "encrypt"')
    extra = _uscc_extension(uscc, uscc_extension_oid)
    issuer = _issuer_of(issuer_der)
    return _certificate(
        signer=issuer_signer,
        subject=subject,
        issuer=issuer.name,
        issuer_key_id=issuer.key_id,
        issuer_not_after=issuer.not_after,
        public_key_der=public_key_der,
        serial=random_serial() if serial is None else serial,
        not_before=not_before,
        not_after=not_after,
        ca=False,
        path_length=None,
        key_usage=ENTITY_USAGES[usage],
        locations=locations,
        policy_oid=policy_oid,
        extra=extra,
    )


def _uscc_extension(uscc: str | None, oid: str | None) -> list[asn1_x509.Extension]:
    if not oid:
        return []
    if not uscc:
        raise GmError("the unified social credit code is needed for its extension")
    return [_extension(oid, core.PrintableString(uscc).dump())]


_V3 = _tlv(0xA0, asn1_x509.Version("v3").dump())  # [0] EXPLICIT Version v3
_SM2_SM3_DER = algos.SignedDigestAlgorithm({"algorithm": SM2_SM3_SIGNATURE_OID}).dump()
_SKI_EXTENSION_PREFIX = _extension("key_identifier", bytes(20)).dump()[:-20]  # then the 20-byte SHA-1


@lru_cache(maxsize=256)
def _entity_extensions(
    usage: str,
    issuer_key_id: bytes,
    locations: Locations,
    policy_oid: str,
    uscc: str | None,
    uscc_extension_oid: str | None,
) -> tuple[bytes, bytes]:
    """The DER of an end-entity certificate's extensions before and after its subject key identifier."""
    extensions = _extensions(
        subject_key_id=bytes(20),
        issuer_key_id=issuer_key_id,
        ca=False,
        path_length=None,
        key_usage=ENTITY_USAGES[usage],
        locations=locations,
        policy_oid=policy_oid,
        extended_key_usage=None,
        ocsp_no_check=False,
        extra=_uscc_extension(uscc, uscc_extension_oid),
    )
    names = [extension["extn_id"].native for extension in extensions]
    at = names.index("key_identifier")
    return b"".join(e.dump() for e in extensions[:at]), b"".join(e.dump() for e in extensions[at + 1 :])


def ocsp_responder_certificate(
    *,
    issuer_signer: Signer,
    issuer_der: bytes,
    public_key_der: bytes,
    name: asn1_x509.Name,
    now: datetime,
    days: int = 30,
    serial: int | None = None,
) -> bytes:
    """A delegated OCSP responder's certificate (RFC 6960 §4.2.2.2): issued by the CA whose certificates it
    answers for, id-kp-OCSPSigning only and critical, digitalSignature, id-pkix-ocsp-nocheck (short-lived)."""
    issuer = _issuer_of(issuer_der)
    return _certificate(
        signer=issuer_signer,
        subject=name,
        issuer=issuer.name,
        issuer_key_id=issuer.key_id,
        issuer_not_after=issuer.not_after,
        public_key_der=public_key_der,
        serial=random_serial() if serial is None else serial,
        not_before=now - BACKDATE,
        not_after=now + timedelta(days=days),
        ca=False,
        path_length=None,
        key_usage={"digital_signature"},
        locations=None,
        policy_oid=None,
        extended_key_usage=["ocsp_signing"],
        ocsp_no_check=True,
    )


# --- CRL ----------------------------------------------------------------------------------------------------------

REASONS = frozenset(
    {
        "unspecified",
        "key_compromise",
        "ca_compromise",
        "affiliation_changed",
        "superseded",
        "cessation_of_operation",
        "privilege_withdrawn",
    }
)  # as services.REVOCATION_REASONS


@dataclass(frozen=True)
class Revoked:
    serial: int
    revoked_at: datetime
    reason: str = "unspecified"  # one of REASONS (RFC 5280 §5.3.1 names, as x509.ReasonFlags)


def _reason_extension(reason: str) -> list[asn1_x509.Extension]:
    if reason not in REASONS:
        raise GmError(f"unknown revocation reason {reason!r}")
    if reason == "unspecified":
        return []  # said by leaving the reason out (RFC 5280 §5.3.1)
    return [asn1_crl.CRLEntryExtension({"extn_id": "crl_reason", "critical": False, "extn_value": reason})]


def crl(
    *,
    signer: Signer,
    issuer_der: bytes,
    number: int,
    this_update: datetime,
    next_update: datetime,
    revoked: Iterable[Revoked] = (),
) -> bytes:
    """A v2 CRL of ``issuer_der``'s certificates: AKI, CRL number, the revoked serials with their reasons."""
    issuer = _issuer_of(issuer_der)
    if number < 0:
        raise GmError("a CRL number is not negative")
    entries = []
    for item in revoked:
        entry: dict[str, Any] = {"user_certificate": item.serial, "revocation_date": _time(item.revoked_at)}
        extensions = _reason_extension(item.reason)
        if extensions:
            entry["crl_entry_extensions"] = extensions
        entries.append(entry)
    tbs: dict[str, Any] = {
        "version": "v2",
        "signature": _sm2_sm3(),
        "issuer": issuer.name,
        "this_update": _time(this_update),
        "next_update": _time(next_update),
        "crl_extensions": [
            {"extn_id": "authority_key_identifier", "critical": False, "extn_value": {"key_identifier": issuer.key_id}},
            {"extn_id": "crl_number", "critical": False, "extn_value": number},
        ],
    }
    if entries:
        tbs["revoked_certificates"] = entries
    tbs_list = asn1_crl.TbsCertList(tbs)
    signature = signer(tbs_list.dump())
    return asn1_crl.CertificateList(
        {"tbs_cert_list": tbs_list, "signature_algorithm": _sm2_sm3(), "signature": signature}
    ).dump()


# --- OCSP ---------------------------------------------------------------------------------------------------------

OCSP_HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}


@dataclass(frozen=True)
class Status:
    """One certificate's status for an OCSP response: ``revoked_at`` None means good."""

    serial: int
    revoked_at: datetime | None = None
    reason: str = "unspecified"
    unknown: bool = False  # a serial the issuer never issued (RFC 6960 "unknown")


def cert_id(issuer_der: bytes, serial: int, hash_algorithm: str = "sha1") -> asn1_ocsp.CertId:
    """RFC 6960 §4.1.1 CertID: hashes of the issuer's subject name (DER) and of its subjectPublicKey bits."""
    if hash_algorithm not in OCSP_HASHES:
        raise GmError("a CertID is hashed with sha1 or sha256")
    name_hash, key_hash = _cert_id_hashes(issuer_der, hash_algorithm)
    return asn1_ocsp.CertId(
        {
            "hash_algorithm": {"algorithm": hash_algorithm},
            "issuer_name_hash": name_hash,
            "issuer_key_hash": key_hash,
            "serial_number": serial,
        }
    )


@lru_cache(maxsize=128)
def _cert_id_hashes(issuer_der: bytes, hash_algorithm: str) -> tuple[bytes, bytes]:
    """The issuer name and key hashes of a CertID, computed once per issuer certificate and hash."""
    certificate = asn1_x509.Certificate.load(issuer_der)
    digest = OCSP_HASHES[hash_algorithm]
    key_bits = bytes(certificate["tbs_certificate"]["subject_public_key_info"]["public_key"])
    return digest(certificate.subject.dump()).digest(), digest(key_bits).digest()


@lru_cache(maxsize=128)
def _cert_id_prefix(issuer_der: bytes, hash_algorithm: str) -> bytes:
    """A CertID's DER contents before its serial number (hash algorithm, name hash, key hash)."""
    identifier = cert_id(issuer_der, 1, hash_algorithm)
    return b"".join(identifier[field].dump() for field in ("hash_algorithm", "issuer_name_hash", "issuer_key_hash"))


@lru_cache(maxsize=64)
def _responder_id(signer_der: bytes) -> bytes:
    """The DER ResponderID by key hash of the certificate whose key signs."""
    spki = asn1_x509.Certificate.load(signer_der)["tbs_certificate"]["subject_public_key_info"].dump()
    return asn1_ocsp.ResponderId(name="by_key", value=key_identifier(spki)).dump()


_GOOD_DER = asn1_ocsp.CertStatus(name="good", value=core.Null()).dump()
_UNKNOWN_DER = asn1_ocsp.CertStatus(name="unknown", value=core.Null()).dump()
_SUCCESSFUL_DER = asn1_ocsp.OCSPResponseStatus("successful").dump()
_BASIC_OCSP_DER = asn1_ocsp.ResponseType("basic_ocsp_response").dump()


def _cert_status(status: Status) -> Any:
    """A SingleResponse's certStatus (an asn1crypto value) for ``status``."""
    if status.unknown:
        return asn1_ocsp.CertStatus(name="unknown", value=core.Null())
    if status.revoked_at is None:
        return asn1_ocsp.CertStatus(name="good", value=core.Null())
    info: dict[str, Any] = {"revocation_time": status.revoked_at.astimezone(UTC).replace(microsecond=0)}
    if status.reason not in REASONS:
        raise GmError(f"unknown revocation reason {status.reason!r}")
    if status.reason != "unspecified":
        info["revocation_reason"] = status.reason
    return asn1_ocsp.CertStatus(name="revoked", value=info)


def ocsp_response(
    *,
    signer: Signer,
    issuer_der: bytes,
    statuses: Iterable[Status],
    produced_at: datetime,
    next_update: datetime,
    hash_algorithm: str = "sha1",
    responder_der: bytes | None = None,
    nonce: bytes | None = None,
) -> bytes:
    """A successful OCSPResponse whose BasicOCSPResponse answers for ``statuses`` of ``issuer_der``'s
    certificates. Signed by ``signer``: the issuing CA's key, or, with ``responder_der``, the delegated responder's
    (its certificate is then included, RFC 6960 §4.2.1). Responder ID by key hash.

    Assembled from DER pieces (responder ID and CertID hashes once per certificate, the good and unknown statuses
    constant): what ``_reference_ocsp_response`` builds with asn1crypto, byte for byte."""
    _issuer_facts(issuer_der)
    signer_der = responder_der or issuer_der
    this_update = _der_generalized_time(produced_at)
    until = _tlv(0xA0, _der_generalized_time(next_update))  # nextUpdate [0] EXPLICIT
    singles = []
    for status in statuses:
        if status.unknown:
            cert_status = _UNKNOWN_DER
        elif status.revoked_at is None:
            cert_status = _GOOD_DER
        else:
            cert_status = _cert_status(status).dump()
        if hash_algorithm not in OCSP_HASHES:
            raise GmError("a CertID is hashed with sha1 or sha256")
        identifier = _tlv(0x30, _cert_id_prefix(issuer_der, hash_algorithm) + _der_integer(status.serial))
        singles.append(_tlv(0x30, identifier + cert_status + this_update + until))
    if not singles:
        raise GmError("an OCSP response answers for at least one certificate")
    data = [_responder_id(signer_der), this_update, _tlv(0x30, b"".join(singles))]
    if nonce is not None:
        extensions = asn1_ocsp.ResponseDataExtensions([{"extn_id": "nonce", "critical": False, "extn_value": nonce}])
        data.append(_tlv(0xA1, extensions.dump()))  # responseExtensions [1] EXPLICIT
    tbs = _tlv(0x30, b"".join(data))
    basic = tbs + _SM2_SM3_DER + _tlv(0x03, b"\x00" + signer(tbs))
    if responder_der is not None:
        basic += _tlv(0xA0, _tlv(0x30, asn1_x509.Certificate.load(responder_der).dump()))  # certs [0] EXPLICIT
    return _tlv(0x30, _SUCCESSFUL_DER + _tlv(0xA0, _tlv(0x30, _BASIC_OCSP_DER + _tlv(0x04, _tlv(0x30, basic)))))


def _reference_ocsp_response(
    *,
    signer: Signer,
    issuer_der: bytes,
    statuses: Iterable[Status],
    produced_at: datetime,
    next_update: datetime,
    hash_algorithm: str = "sha1",
    responder_der: bytes | None = None,
    nonce: bytes | None = None,
) -> bytes:
    """``ocsp_response`` built wholly with asn1crypto: the reference the fast path is held to."""
    _issuer_of(issuer_der)
    signer_der = responder_der or issuer_der
    responses = []
    for status in statuses:
        cert_status = _cert_status(status)
        responses.append(
            {
                "cert_id": cert_id(issuer_der, status.serial, hash_algorithm),
                "cert_status": cert_status,
                "this_update": produced_at.astimezone(UTC).replace(microsecond=0),
                "next_update": next_update.astimezone(UTC).replace(microsecond=0),
            }
        )
    if not responses:
        raise GmError("an OCSP response answers for at least one certificate")
    data: dict[str, Any] = {
        "responder_id": asn1_ocsp.ResponderId(
            name="by_key",
            value=key_identifier(
                asn1_x509.Certificate.load(signer_der)["tbs_certificate"]["subject_public_key_info"].dump()
            ),
        ),
        "produced_at": produced_at.astimezone(UTC).replace(microsecond=0),
        "responses": responses,
    }
    if nonce is not None:
        data["response_extensions"] = [{"extn_id": "nonce", "critical": False, "extn_value": nonce}]
    tbs = asn1_ocsp.ResponseData(data)
    basic: dict[str, Any] = {
        "tbs_response_data": tbs,
        "signature_algorithm": _sm2_sm3(),
        "signature": signer(tbs.dump()),
    }
    if responder_der is not None:
        basic["certs"] = [asn1_x509.Certificate.load(responder_der)]
    return asn1_ocsp.OCSPResponse(
        {
            "response_status": "successful",
            "response_bytes": {"response_type": "basic_ocsp_response", "response": asn1_ocsp.BasicOCSPResponse(basic)},
        }
    ).dump()


# --- 3. verification ----------------------------------------------------------------------------------------------


def _verify(spki_der: bytes, signature: bytes, message: bytes) -> bool:
    try:
        public_key = sm2.load_public(spki_der)
        return bool(public_key.verify(signature, message, id=sm2.DEFAULT_ID))
    except sm2.Sm2Error:
        return False


def _check_algorithm(outer: algos.SignedDigestAlgorithm, inner: algos.SignedDigestAlgorithm | None) -> None:
    if outer["algorithm"].dotted != SM2_SM3_SIGNATURE_OID or (inner is not None and inner.dump() != outer.dump()):
        raise GmVerifyError("not signed with SM2-with-SM3")


def _load(loader: Callable[[bytes], Any], der: bytes, what: str) -> Any:
    try:
        value = loader(der)
        value.native  # noqa: B018 (parses the whole structure now, so that a malformed one fails here)
    except (ValueError, TypeError, KeyError) as exc:
        raise GmVerifyError(f"malformed {what}") from exc
    return value


def verify_certificate(cert_der: bytes, issuer_der: bytes) -> None:
    """Whether ``cert_der`` was issued and signed by ``issuer_der``'s SM2 key (name chaining, algorithm, SM2 with
    ID 1234567812345678). Raises ``GmVerifyError``."""
    certificate = _load(asn1_x509.Certificate.load, cert_der, "certificate")
    issuer = _load(asn1_x509.Certificate.load, issuer_der, "issuer certificate")
    tbs = certificate["tbs_certificate"]
    _check_algorithm(certificate["signature_algorithm"], tbs["signature"])
    if tbs["issuer"] != issuer.subject:  # RFC 5280 §7.1 name comparison
        raise GmVerifyError("issued by another CA")
    spki = issuer["tbs_certificate"]["subject_public_key_info"].dump()
    if not _verify(spki, bytes(certificate["signature_value"]), tbs.dump()):
        raise GmVerifyError("the certificate's signature does not verify")


def verify_crl(crl_der: bytes, issuer_der: bytes) -> None:
    """Whether ``crl_der`` is ``issuer_der``'s CRL, signed with its SM2 key. Raises ``GmVerifyError``."""
    certificate_list = _load(asn1_crl.CertificateList.load, crl_der, "CRL")
    issuer = _load(asn1_x509.Certificate.load, issuer_der, "issuer certificate")
    tbs = certificate_list["tbs_cert_list"]
    _check_algorithm(certificate_list["signature_algorithm"], tbs["signature"])
    if tbs["issuer"] != issuer.subject:
        raise GmVerifyError("the CRL of another CA")
    spki = issuer["tbs_certificate"]["subject_public_key_info"].dump()
    if not _verify(spki, bytes(certificate_list["signature"]), tbs.dump()):
        raise GmVerifyError("the CRL's signature does not verify")


@dataclass(frozen=True)
class OcspAnswer:
    serial: int
    status: str  # "good" | "revoked" | "unknown"
    hash_algorithm: str
    revoked_at: datetime | None
    reason: str | None
    this_update: datetime
    next_update: datetime | None


def verify_ocsp(resp_der: bytes, issuer_der: bytes) -> list[OcspAnswer]:
    """Verify an OCSP response about ``issuer_der``'s certificates: signed by the issuer itself (responder ID its
    key hash) or by a delegated responder certificate in the response that the issuer issued for id-kp-OCSPSigning;
    every CertID names this issuer. Returns what it says. Raises ``GmVerifyError``."""
    response = _load(asn1_ocsp.OCSPResponse.load, resp_der, "OCSP response")
    _load(asn1_x509.Certificate.load, issuer_der, "issuer certificate")
    if response["response_status"].native != "successful" or response["response_bytes"]["response_type"].native != (
        "basic_ocsp_response"
    ):
        raise GmVerifyError("not a successful basic OCSP response")
    basic = response["response_bytes"]["response"].parsed
    tbs = basic["tbs_response_data"]
    _check_algorithm(basic["signature_algorithm"], None)
    responder = tbs["responder_id"]
    candidates = [issuer_der] + [cert.dump() for cert in (basic["certs"] or [])]
    signer_der = None
    for candidate in candidates:
        spki = asn1_x509.Certificate.load(candidate)["tbs_certificate"]["subject_public_key_info"].dump()
        if responder.name == "by_key":
            matches = responder.chosen.native == key_identifier(spki)
        else:
            matches = responder.chosen == asn1_x509.Certificate.load(candidate).subject
        if matches:
            signer_der = candidate
            break
    if signer_der is None:
        raise GmVerifyError("the responder is neither the CA nor a responder certificate in the response")
    if signer_der != issuer_der:
        verify_certificate(signer_der, issuer_der)
        delegated = asn1_x509.Certificate.load(signer_der)
        if "ocsp_signing" not in (
            delegated.extended_key_usage_value.native if delegated.extended_key_usage_value else []
        ):
            raise GmVerifyError("the responder certificate is not for OCSP signing")
    signer_spki = asn1_x509.Certificate.load(signer_der)["tbs_certificate"]["subject_public_key_info"].dump()
    if not _verify(signer_spki, bytes(basic["signature"]), tbs.dump()):
        raise GmVerifyError("the OCSP response's signature does not verify")
    answers = []
    for single in tbs["responses"]:
        identifier = single["cert_id"]
        label = identifier["hash_algorithm"]["algorithm"].native
        if label not in OCSP_HASHES:
            raise GmVerifyError("a CertID hashed with an unknown algorithm")
        expected = cert_id(issuer_der, identifier["serial_number"].native, label)
        if (identifier["issuer_name_hash"].native, identifier["issuer_key_hash"].native) != (
            expected["issuer_name_hash"].native,
            expected["issuer_key_hash"].native,
        ):
            raise GmVerifyError("a CertID names another issuer")
        status = single["cert_status"]
        revoked = status.chosen if status.name == "revoked" else None
        answers.append(
            OcspAnswer(
                serial=identifier["serial_number"].native,
                status=status.name,
                hash_algorithm=label,
                revoked_at=revoked["revocation_time"].native if revoked is not None else None,
                reason=revoked["revocation_reason"].native if revoked is not None else None,
                this_update=single["this_update"].native,
                next_update=single["next_update"].native,
            )
        )
    return answers


def validate_chain(
    leaf_der: bytes,
    intermediates: Sequence[bytes],
    roots: Sequence[bytes],
    crls: Sequence[bytes] = (),
    *,
    at: datetime | None = None,
) -> None:
    """Validate a certificate path as OpenSSL does (RFC 5280), with the CRLs of every CA on it when given
    (CRL_CHECK | CRL_CHECK_ALL: a CA without a CRL fails), through pyOpenSSL's ``X509Store`` on the OpenSSL that
    ``cryptography`` bundles, whose SM2 verification uses the ID 1234567812345678. Raises ``GmVerifyError``."""
    from cryptography import x509
    from cryptography.hazmat.bindings.openssl.binding import Binding
    from OpenSSL import crypto

    try:
        leaf = crypto.X509.from_cryptography(x509.load_der_x509_certificate(leaf_der))
        chain = [crypto.X509.from_cryptography(x509.load_der_x509_certificate(der)) for der in intermediates]
        store = crypto.X509Store()
        for root in roots:
            store.add_cert(crypto.X509.from_cryptography(x509.load_der_x509_certificate(root)))
        for der in crls:
            store.add_crl(x509.load_der_x509_crl(der))
    except (ValueError, crypto.Error) as exc:
        raise GmVerifyError("a malformed certificate or CRL") from exc
    if crls:
        store.set_flags(crypto.X509StoreFlags.CRL_CHECK | crypto.X509StoreFlags.CRL_CHECK_ALL)
    if at is not None:
        store.set_time(at)
    try:
        crypto.X509StoreContext(store, leaf, chain).verify_certificate()
    except crypto.X509StoreContextError as exc:
        raise GmVerifyError(f"the path does not validate: {exc}") from exc
    finally:
        # OpenSSL's SM2 verification can leave entries in this thread's error queue even when the path validates;
        # ``cryptography`` (the same OpenSSL) reads that queue to word its own errors, e.g. a failed GCM tag check
        Binding.lib.ERR_clear_error()
