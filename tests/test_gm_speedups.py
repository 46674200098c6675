"""The fast SM2 builders of issue 19 (``gm.entity_name``, ``gm.entity_certificate``, ``gm.ocsp_response``, which
assemble DER from pieces encoded once) write byte for byte what the asn1crypto builders (``gm._reference_*``) write,
for every case the reference handles, and refuse what it refuses with the same message; with real SM2 signatures
their output verifies with our verifier, pyOpenSSL's X509Store and BouncyCastle, and the subject is the ECDSA
profile's as ``cryptography`` writes it."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from mobileca.ca import gm, sm2
from tests.support.gm_hierarchy import CLAIMANT, ENTERPRISE, ENTITY_LOCATIONS, POLICY, USCC, Hierarchy, build, write
from tests.test_gm_bouncycastle import CHECKER, JARS, _missing, _run

LONG_NAME = "景德镇" + "陶瓷" * 40 + "建设工程有限公司"  # over 64 UTF-8 bytes: shortened, description added
MOMENT = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)


def _fake_signer(tbs: bytes) -> bytes:
    """A deterministic stand-in for the SM2 signature (real ones are randomised), different for each TBS."""
    digest = hashlib.sha256(tbs).digest()
    return bytes.fromhex("3046022100") + digest + bytes.fromhex("022100") + digest[::-1]


@pytest.fixture(scope="module")
def pki() -> Hierarchy:
    return build()


@pytest.fixture(scope="module")
def long_lived() -> Hierarchy:
    """A hierarchy whose CAs are valid past 2049, for GeneralizedTime validity."""
    now = datetime.now(UTC).replace(microsecond=0)
    root_key, issuing_key = sm2.generate(), sm2.generate()
    root = gm.root_certificate(
        signer=root_key.sign,
        public_key_der=root_key.public_key().der,
        name=gm.ca_name("长期", "Root"),
        now=now,
        years=60,
    )
    issuing = gm.issuing_certificate(
        root_signer=root_key.sign,
        root_der=root,
        public_key_der=issuing_key.public_key().der,
        name=gm.ca_name("长期", "Issuing"),
        locations=ENTITY_LOCATIONS,
        policy_oid=POLICY,
        now=now,
        years=50,
    )
    return Hierarchy(now, root_key, issuing_key, root, issuing, b"", b"", b"", b"", b"")


def _same(fast: Callable[..., Any], reference: Callable[..., Any], **arguments: Any) -> bytes:
    """Both builders on the same arguments: the same DER (and so the same fields), or the same refusal."""
    try:
        expected = reference(**arguments)
    except Exception as exc:  # noqa: BLE001 (the fast path must refuse alike, whatever it is)
        with pytest.raises(type(exc)) as raised:
            fast(**arguments)
        assert str(raised.value) == str(exc)
        return b""
    got = fast(**arguments)
    return _equal(got, expected)


def _equal(got: bytes, expected: bytes) -> bytes:
    if got != expected:  # say which field differs
        kind = asn1_ocsp.OCSPResponse if expected[2:5] == b"\x0a\x01\x00" else asn1_x509.Certificate
        assert kind.load(got).native == kind.load(expected).native
    assert got == expected
    return got


def _entity(pki: Hierarchy, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "issuer_signer": _fake_signer,
        "issuer_der": pki.issuing,
        "subject": gm.entity_name(enterprise_name=ENTERPRISE, uscc=USCC, claimant_name=CLAIMANT),
        "usage": "sign",
        "public_key_der": sm2.generate().public_key().der,
        "locations": ENTITY_LOCATIONS,
        "policy_oid": POLICY,
        "not_before": MOMENT,
        "not_after": MOMENT + timedelta(days=365),
        "serial": 0x1234567890ABCDEF,
    }
    return arguments | overrides


# --- names --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("enterprise", "claimant"),
    [(ENTERPRISE, CLAIMANT), (LONG_NAME, CLAIMANT), ("A" * 64, "Zhang San"), ("A" * 65, "é"), ("企", "王")],
)
def test_entity_name_is_the_reference_name_and_the_ecdsa_profiles(enterprise: str, claimant: str) -> None:
    from mobileca.ca.profiles import Subject, entity_name

    fast = gm.entity_name(enterprise_name=enterprise, uscc=USCC, claimant_name=claimant)
    reference = gm._reference_entity_name(enterprise_name=enterprise, uscc=USCC, claimant_name=claimant)
    assert fast.dump() == reference.dump()
    assert fast.native == reference.native
    assert fast == reference  # RFC 5280 comparison, as verify_certificate chains names
    subject = Subject(enterprise_name=enterprise, uscc=USCC, claimant_name=claimant)
    assert fast.dump() == entity_name(subject).public_bytes()  # cryptography's encoding of the ECDSA profile


def test_entity_name_refuses_as_the_reference_does() -> None:
    for enterprise in ("", "企" * (gm.UB_DESCRIPTION + 1)):
        with pytest.raises(gm.GmError, match="1 to 1024 characters"):
            gm.entity_name(enterprise_name=enterprise, uscc=USCC, claimant_name=CLAIMANT)
        with pytest.raises(gm.GmError, match="1 to 1024 characters"):
            gm._reference_entity_name(enterprise_name=enterprise, uscc=USCC, claimant_name=CLAIMANT)


# --- certificates -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("usage", ["sign", "encrypt"])
@pytest.mark.parametrize(
    "serial",
    [1, 0x7F, 0x80, 0xFF, 2**63, 2**64 - 1, 2**158, 2**159 - 1, None],
    ids=lambda serial: f"serial={serial}",
)
def test_entity_certificate_is_the_reference_certificate_byte_for_byte(pki, usage: str, serial: int | None) -> None:
    if serial is None:  # a random serial: the same one for both builders
        serial = gm.random_serial()
    arguments = _entity(pki, usage=usage, serial=serial)
    der = _same(gm.entity_certificate, gm._reference_entity_certificate, **arguments)
    certificate = x509.load_der_x509_certificate(der)
    assert certificate.serial_number == serial
    assert certificate.subject.public_bytes() == arguments["subject"].dump()


@pytest.mark.parametrize(
    "overrides",
    [
        {"locations": gm.Locations(crl="http://a.test/x.crl", ca_issuers="http://a.test/x.crt")},  # no AIA OCSP
        {
            "locations": gm.Locations(
                crl="http://b.test/" + "c" * 200 + ".crl", ca_issuers="http://b.test/y.crt", ocsp="http://b.test/ocsp"
            )
        },  # a long URL: long-form DER lengths
        {"policy_oid": "1.2.156.112570.1.1"},
        {"uscc": USCC, "uscc_extension_oid": gm.USCC_EXTENSION_OID_2012_ORG_CODE},
        {"uscc": USCC},  # the code alone adds nothing
        {"subject": gm.entity_name(enterprise_name=LONG_NAME, uscc=USCC, claimant_name=CLAIMANT)},
        {"subject": gm._reference_entity_name(enterprise_name=ENTERPRISE, uscc=USCC, claimant_name=CLAIMANT)},
        {"not_before": datetime(2026, 3, 1, 16, 30, 15, 999999, tzinfo=timezone(timedelta(hours=8)))},
        {"not_after": MOMENT + timedelta(days=365 * 40)},  # past the issuer: cut at its notAfter
        {"not_before": datetime(1950, 1, 1, tzinfo=UTC)},
        {"not_before": datetime(1949, 12, 31, 23, 59, 59, tzinfo=UTC)},  # refused by both (UTCTime's range)
    ],
    ids=lambda overrides: ",".join(overrides),
)
def test_entity_certificate_variants_are_the_reference_certificates(pki, overrides: dict[str, Any]) -> None:
    _same(gm.entity_certificate, gm._reference_entity_certificate, **_entity(pki, **overrides))


def test_validity_past_2049_is_generalized_time_as_in_the_reference(long_lived: Hierarchy) -> None:
    for not_after in (datetime(2049, 12, 31, 23, 59, 59, 900000, tzinfo=UTC), datetime(2050, 1, 1, tzinfo=UTC),
                      datetime(2071, 6, 1, 12, tzinfo=UTC)):  # fmt: skip
        der = _same(gm.entity_certificate, gm._reference_entity_certificate, **_entity(long_lived, not_after=not_after))
        tag = asn1_x509.Certificate.load(der)["tbs_certificate"]["validity"]["not_after"].name
        assert tag == ("utc_time" if not_after.year < 2050 else "general_time")
        assert x509.load_der_x509_certificate(der).not_valid_after_utc == not_after.replace(microsecond=0)


def test_a_public_key_in_another_encoding_is_handled_as_the_reference_does(pki) -> None:
    canonical = sm2.generate().public_key().der
    long_form = b"\x30\x81" + canonical[1:]  # the same SubjectPublicKeyInfo, its length in long form
    trailing = canonical + b"\x00\x00"
    for key in (long_form, trailing):
        _same(gm.entity_certificate, gm._reference_entity_certificate, **_entity(pki, public_key_der=key))


def test_entity_certificate_refuses_what_the_reference_refuses_alike(pki) -> None:
    ecdsa_spki = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    point_not_uncompressed = bytearray(sm2.generate().public_key().der)
    point_not_uncompressed[26] = 2
    refusals = [
        ({"usage": "both"}, 'usage is "sign" or "encrypt"'),
        ({"uscc_extension_oid": gm.USCC_EXTENSION_OID_2012_ORG_CODE}, "credit code is needed"),
        ({"public_key_der": ecdsa_spki}, "not an SM2 public key"),
        ({"public_key_der": bytes(point_not_uncompressed)}, "not an SM2 public key"),
        ({"public_key_der": b"garbage"}, "not a SubjectPublicKeyInfo"),
        ({"serial": 0}, "positive and at most 20 octets"),
        ({"serial": -5}, "positive and at most 20 octets"),
        ({"serial": 2**159}, "positive and at most 20 octets"),
        ({"issuer_der": b"\x30\x03\x02\x01\x01"}, "the issuer is not an SM2 certificate"),
    ]
    signed: list[bytes] = []
    for overrides, message in refusals:
        arguments = _entity(pki, issuer_signer=signed.append, **overrides)
        for builder in (gm.entity_certificate, gm._reference_entity_certificate):
            with pytest.raises(gm.GmError, match=message):
                builder(**arguments)
    assert signed == []  # nothing was signed


def test_an_ecdsa_issuer_is_refused_alike(pki) -> None:
    from mobileca.ca.profiles import root_certificate

    key = ec.generate_private_key(ec.SECP256R1())
    ecdsa = root_certificate(key=key, public_key=key.public_key(), now=MOMENT)
    arguments = _entity(pki, issuer_der=ecdsa.public_bytes(Encoding.DER))
    for builder in (gm.entity_certificate, gm._reference_entity_certificate):
        with pytest.raises(gm.GmError, match="the issuer is not an SM2 certificate"):
            builder(**arguments)


def test_certificates_of_two_issuers_keep_their_own_issuer(pki, long_lived: Hierarchy) -> None:
    """What is cached per issuer certificate (name, key identifier, notAfter) is never another issuer's."""
    subject = gm.entity_name(enterprise_name=ENTERPRISE, uscc=USCC, claimant_name=CLAIMANT)
    for _ in range(2):
        for hierarchy, other in ((pki, long_lived), (long_lived, pki)):
            der = gm.entity_certificate(
                **_entity(hierarchy, issuer_signer=hierarchy.issuing_key.sign, subject=subject, serial=None)
            )
            gm.verify_certificate(der, hierarchy.issuing)
            with pytest.raises(gm.GmVerifyError):
                gm.verify_certificate(der, other.issuing)
            certificate = x509.load_der_x509_certificate(der)
            issuing = x509.load_der_x509_certificate(hierarchy.issuing)
            assert certificate.issuer == issuing.subject
            assert certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == (
                issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
            )


def test_signed_fast_certificates_validate_with_pyopenssl_and_our_verifier(pki, long_lived: Hierarchy) -> None:
    for hierarchy, not_after in ((pki, pki.now + timedelta(days=30)), (long_lived, datetime(2060, 1, 1, tzinfo=UTC))):
        for usage, serial in (("sign", 2**159 - 1), ("encrypt", 0x80)):
            der = gm.entity_certificate(
                **_entity(
                    hierarchy,
                    issuer_signer=hierarchy.issuing_key.sign,
                    usage=usage,
                    serial=serial,
                    not_before=hierarchy.now - gm.BACKDATE,
                    not_after=not_after,
                )
            )
            gm.verify_certificate(der, hierarchy.issuing)
            gm.validate_chain(der, [hierarchy.issuing], [hierarchy.root])
            with pytest.raises(gm.GmVerifyError):
                gm.validate_chain(der[:-3] + bytes(b ^ 1 for b in der[-3:]), [hierarchy.issuing], [hierarchy.root])


# --- OCSP ---------------------------------------------------------------------------------------------------------


def _ocsp(pki: Hierarchy, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "signer": _fake_signer,
        "issuer_der": pki.issuing,
        "statuses": [gm.Status(0x1234567890ABCDEF)],
        "produced_at": MOMENT,
        "next_update": MOMENT + timedelta(days=1),
    }
    return arguments | overrides


STATUSES = [
    [gm.Status(1)],
    [gm.Status(2**159 - 1, unknown=True)],
    [gm.Status(0x80, MOMENT - timedelta(hours=1))],  # revoked, reason unspecified: left out
    *([gm.Status(0xFF, MOMENT - timedelta(hours=1, microseconds=7), reason)] for reason in sorted(gm.REASONS)),
    [gm.Status(5), gm.Status(6, MOMENT, "key_compromise"), gm.Status(7, unknown=True)] * 3,
    [gm.Status(n) for n in range(1, 40)],  # long-form DER lengths
]


@pytest.mark.parametrize("hash_algorithm", ["sha1", "sha256"])
@pytest.mark.parametrize("statuses", STATUSES, ids=range(len(STATUSES)))
def test_ocsp_response_is_the_reference_response_byte_for_byte(pki, hash_algorithm: str, statuses: list) -> None:
    der = _same(
        gm.ocsp_response, gm._reference_ocsp_response, **_ocsp(pki, statuses=statuses, hash_algorithm=hash_algorithm)
    )
    parsed = x509.ocsp.load_der_ocsp_response(der)
    assert [single.serial_number for single in parsed.responses] == [status.serial for status in statuses]


def test_ocsp_response_variants_are_the_reference_responses(pki) -> None:
    responder_key = sm2.generate()
    responder = gm.ocsp_responder_certificate(
        issuer_signer=pki.issuing_key.sign,
        issuer_der=pki.issuing,
        public_key_der=responder_key.public_key().der,
        name=gm.ca_name("景德镇移动CA测试", "Mobile CA SM2 OCSP"),
        now=pki.now,
    )
    east = timezone(timedelta(hours=8))
    for overrides in (
        {"nonce": b"n" * 16},
        {"nonce": b"\x00" * 128},
        {"responder_der": responder},
        {"responder_der": responder, "nonce": b"x" * 32, "hash_algorithm": "sha256"},
        {"produced_at": datetime(2026, 3, 1, 16, 30, 15, 999999, tzinfo=east)},
        {"next_update": datetime(2051, 1, 1, tzinfo=UTC)},  # GeneralizedTime either way
        {"issuer_der": pki.root},  # the root's answers (a CA certificate's status)
    ):
        _same(gm.ocsp_response, gm._reference_ocsp_response, **_ocsp(pki, **overrides))


def test_ocsp_response_refuses_what_the_reference_refuses_alike(pki) -> None:
    signed: list[bytes] = []
    for overrides, message in (
        ({"statuses": []}, "at least one certificate"),
        ({"hash_algorithm": "md5"}, "sha1 or sha256"),
        ({"statuses": [gm.Status(1, MOMENT, "because")]}, "unknown revocation reason"),
        ({"issuer_der": b"\x30\x03\x02\x01\x01"}, "the issuer is not an SM2 certificate"),
    ):
        arguments = _ocsp(pki, signer=signed.append, **overrides)
        for builder in (gm.ocsp_response, gm._reference_ocsp_response):
            with pytest.raises(gm.GmError, match=message):
                builder(**arguments)
    assert signed == []


def test_signed_fast_ocsp_responses_verify_with_our_verifier(pki) -> None:
    statuses = [gm.Status(3), gm.Status(4, pki.now, "superseded"), gm.Status(5, unknown=True)]
    for label in ("sha1", "sha256"):
        der = gm.ocsp_response(**_ocsp(pki, signer=pki.issuing_key.sign, statuses=statuses, hash_algorithm=label))
        answers = gm.verify_ocsp(der, pki.issuing)
        assert [(a.serial, a.status, a.reason, a.hash_algorithm) for a in answers] == [
            (3, "good", None, label),
            (4, "revoked", "superseded", label),
            (5, "unknown", None, label),
        ]
        with pytest.raises(gm.GmVerifyError):
            gm.verify_ocsp(der, pki.root)


# --- BouncyCastle -------------------------------------------------------------------------------------------------


@pytest.mark.skipif(bool(_missing()), reason=f"BouncyCastle peer unavailable (missing: {_missing()})")
def test_bouncycastle_accepts_fast_certificates_and_ocsp_at_the_edges(
    pki, long_lived: Hierarchy, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    classes = tmp_path_factory.mktemp("gmcheck")
    classpath = ":".join(str(jar) for jar in JARS)
    compiled = subprocess.run(  # noqa: S603
        ["javac", "-d", str(classes), "-cp", classpath, str(CHECKER)],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    assert compiled.returncode == 0, compiled.stderr
    f = {"issuing": write(tmp_path, "i.der", pki.issuing), "long": write(tmp_path, "l.der", long_lived.issuing)}
    long_name = gm.entity_name(enterprise_name=LONG_NAME, uscc=USCC, claimant_name=CLAIMANT)
    certificates = {
        "max_serial": gm.entity_certificate(**_entity(pki, issuer_signer=pki.issuing_key.sign, serial=2**159 - 1,
                                                      not_before=pki.now, not_after=pki.now + timedelta(days=9))),
        "long_name": gm.entity_certificate(**_entity(pki, issuer_signer=pki.issuing_key.sign, subject=long_name,
                                                     usage="encrypt", not_before=pki.now,
                                                     not_after=pki.now + timedelta(days=9))),
        "after_2049": gm.entity_certificate(**_entity(long_lived, issuer_signer=long_lived.issuing_key.sign,
                                                      not_before=long_lived.now,
                                                      not_after=datetime(2060, 1, 1, tzinfo=UTC))),
    }  # fmt: skip
    response = gm.ocsp_response(
        **_ocsp(
            pki,
            signer=pki.issuing_key.sign,
            statuses=[gm.Status(0x80), gm.Status(0xFF, pki.now, "key_compromise")],
            produced_at=pki.now,
            next_update=pki.now + timedelta(hours=1),
            hash_algorithm="sha256",
            nonce=b"n" * 16,
        )
    )
    checks = {
        "max_serial": f"cert:{write(tmp_path, 'a.der', certificates['max_serial'])},{f['issuing']}",
        "long_name": f"cert:{write(tmp_path, 'b.der', certificates['long_name'])},{f['issuing']}",
        "after_2049": f"cert:{write(tmp_path, 'c.der', certificates['after_2049'])},{f['long']}",
        "wrong_issuer": f"cert:{write(tmp_path, 'd.der', certificates['max_serial'])},{f['long']}",
        "ocsp": f"ocsp:{write(tmp_path, 'o.der', response)},{f['issuing']}",
    }
    said = _run(classes, checks)
    for label in ("max_serial", "long_name", "after_2049"):
        assert said[label] == "OK SM3WITHSM2 1.2.156.10197.1.501", label
    assert said["wrong_issuer"].startswith("FAIL")
    sha256 = "2.16.840.1.101.3.4.2.1"
    assert said["ocsp"] == f"OK 1.2.156.10197.1.501 by-ca 80=good/{sha256} ff=revoked:1/{sha256}"  # 1: keyCompromise
