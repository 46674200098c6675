"""The time-stamping authority (issue 17, RFC 3161 + RFC 5816): openssl, a client nobody here wrote, makes the
requests and judges the replies and tokens, on both key back-ends; pkilint judges the unit's certificate. Refused
requests are answered with the failure RFC 3161 names, never an HTTP error, and consume no serial number."""

from __future__ import annotations

import hashlib
import io
import subprocess
from pathlib import Path

import httpx
import pytest
from asn1crypto import algos, cms, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.core.management import call_command
from django.test import Client

from mobileca.ca import tsa
from mobileca.ca.backends import KeyBackendError
from mobileca.ca.backends.factory import backend
from mobileca.ca.channel import channel_check
from mobileca.ca.models import Authority, AuthorityRole, IssuedCertificate, TimeStampUnit, Usage
from mobileca.ca.services import certificate_of, certificate_revoke
from mobileca.core.clock import clock, now
from tests.support.ca import lint, openssl, pem, write

POLICY = "1.3.6.1.4.1.61337.2.1"


@pytest.fixture
def ca(ca: tuple[Authority, Authority]) -> tuple[Authority, Authority]:
    """The CA with its time-stamping unit, as ``manage.py ca_init`` makes them."""
    tsa.tsa_ensure(key_backend=backend())
    return ca


def _files(tmp_path: Path) -> dict[str, str]:
    """The chain a verifier trusts (root + issuing CA) and the unit's certificate (untrusted, as in a token)."""
    root = certificate_of(Authority.objects.get(role=AuthorityRole.ROOT, is_active=True))
    issuing = certificate_of(Authority.objects.get(role=AuthorityRole.ISSUING, is_active=True))
    unit = TimeStampUnit.objects.get(is_active=True)
    return {
        "chain": write(tmp_path, "chain.pem", pem(root) + pem(issuing)),
        "tsa": write(tmp_path, "tsa.pem", pem(certificate_of(unit.certificate))),
    }


def _query(tmp_path: Path, data: bytes, *options: str, name: str = "q") -> tuple[str, str]:
    """``openssl ts -query`` over a file: (the data file, the request file)."""
    data_file = write(tmp_path, f"{name}.dat", data)
    request = str(tmp_path / f"{name}.tsq")
    result = openssl("ts", "-query", "-data", data_file, *options, "-out", request)
    assert result.returncode == 0, result.stderr
    return data_file, request


def _reply(tmp_path: Path, der: bytes, name: str = "r") -> tuple[str, str]:
    """The reply written to a file and ``openssl ts -reply -text`` of it."""
    path = write(tmp_path, f"{name}.tsr", der)
    result = openssl("ts", "-reply", "-in", path, "-text")
    assert result.returncode == 0, result.stderr
    return path, result.stdout


def _status(der: bytes) -> tuple[str, set[str]]:
    status = tsa._TimeStampResp.load(der)["status"]
    return status["status"].native, set(status["fail_info"].native or ())


def _sequence_of(token: bytes) -> int:
    info = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"].parsed
    return int(info["serial_number"].native) >> 64


def _request(
    digest: bytes,
    *,
    algorithm: str = "sha256",
    nonce: int | None = None,
    cert_req: bool = True,
    **extra: object,
) -> bytes:
    fields: dict[str, object] = {
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}),
            "hashed_message": digest,
        },
        "cert_req": cert_req,
        **extra,
    }
    if nonce is not None:
        fields["nonce"] = nonce
    return tsp.TimeStampReq(fields).dump()


def _token(response: bytes) -> bytes:
    return tsa._TimeStampResp.load(response)["time_stamp_token"].dump()


# --- tokens openssl accepts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("digest", ["-sha256", "-sha384", "-sha512"])
def test_openssl_accepts_our_token_for_its_own_request_on_both_back_ends(ca, tmp_path: Path, digest: str) -> None:
    data, request = _query(tmp_path, "投标文件 v1".encode(), digest, "-cert")
    reply, text = _reply(tmp_path, tsa.respond(Path(request).read_bytes()))
    assert "Status: Granted." in text
    assert f"Policy OID: {POLICY}" in text
    assert "Accuracy: 0x01 seconds" in text
    assert "Nonce: 0x" in text and "TSA: DirName:" in text and "TSA" in text
    files = _files(tmp_path)
    verified = openssl("ts", "-verify", "-data", data, "-in", reply, "-CAfile", files["chain"])
    assert verified.returncode == 0 and "Verification: OK" in verified.stdout, verified.stderr
    # the request's nonce, as openssl checks it when given the request itself
    against_request = openssl("ts", "-verify", "-queryfile", request, "-in", reply, "-CAfile", files["chain"])
    assert against_request.returncode == 0, against_request.stderr


def test_without_cert_req_the_token_carries_no_certificate_and_verifies_with_it_untrusted(ca, tmp_path: Path) -> None:
    digest = hashlib.sha256(b"contract").digest()
    data = write(tmp_path, "c.dat", b"contract")
    token = _token(tsa.respond(_request(digest, cert_req=False, nonce=7)))
    assert not cms.ContentInfo.load(token)["content"]["certificates"].native
    token_file = write(tmp_path, "t.tst", token)
    files = _files(tmp_path)
    alone = openssl("ts", "-verify", "-data", data, "-token_in", "-in", token_file, "-CAfile", files["chain"])
    assert alone.returncode != 0  # the signer cannot be found without it
    with_cert = openssl(
        "ts", "-verify", "-digest", digest.hex(), "-token_in", "-in", token_file,
        "-CAfile", files["chain"], "-untrusted", files["tsa"],
    )  # fmt: skip
    assert with_cert.returncode == 0 and "Verification: OK" in with_cert.stdout, with_cert.stderr


def test_openssl_refuses_a_token_for_other_data_or_another_chain(ca, tmp_path: Path) -> None:
    _data, request = _query(tmp_path, b"the original")
    reply, _ = _reply(tmp_path, tsa.respond(Path(request).read_bytes()))
    other = write(tmp_path, "other.dat", b"the forgery")
    files = _files(tmp_path)
    assert openssl("ts", "-verify", "-data", other, "-in", reply, "-CAfile", files["chain"]).returncode != 0
    foreign = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Another root")])
    another = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(foreign.public_key())
        .serial_number(1)
        .not_valid_before(now())
        .not_valid_after(now().replace(year=now().year + 1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(foreign, hashes.SHA256())
    )
    wrong_anchor = write(tmp_path, "another.pem", pem(another))
    data = str(tmp_path / "q.dat")
    assert openssl("ts", "-verify", "-data", data, "-in", reply, "-CAfile", wrong_anchor).returncode != 0


def test_the_token_has_the_rfc_5816_signing_certificate_v2_and_the_request_s_nonce(ca) -> None:
    digest = hashlib.sha512(b"x").digest()
    nonce = 2**200 + 12345
    token = cms.ContentInfo.load(_token(tsa.respond(_request(digest, algorithm="sha512", nonce=nonce))))
    signed = token["content"]
    assert signed["version"].native == "v3"
    info = signed["encap_content_info"]["content"].parsed
    assert signed["encap_content_info"]["content_type"].native == "tst_info"
    assert info["nonce"].native == nonce and info["message_imprint"]["hashed_message"].native == digest
    assert info["policy"].dotted == POLICY and info["accuracy"]["seconds"].native == 1
    attributes = {attribute["type"].native: attribute for attribute in signed["signer_infos"][0]["signed_attrs"]}
    assert set(attributes) == {"content_type", "message_digest", "signing_certificate_v2"}
    unit = TimeStampUnit.objects.get(is_active=True)
    cert_id = attributes["signing_certificate_v2"]["values"][0]["certs"][0]
    assert cert_id["cert_hash"].native == hashlib.sha256(bytes(unit.certificate.certificate_der)).digest()
    assert cert_id["issuer_serial"]["serial_number"].native == int(unit.certificate.serial_hex, 16)
    assert cert_id.contents[0] == 0x04  # certHash first: SHA-256, the default, is left out of the DER


def test_gen_time_is_the_platform_clock_to_the_millisecond(ca, tmp_path: Path) -> None:
    moment = now().replace(microsecond=123456)
    with clock.frozen(moment):
        token = _token(tsa.respond(_request(hashlib.sha256(b"t").digest())))
    assert tsa.gen_time_of(token) == moment.replace(microsecond=123000)
    _, text = _reply(tmp_path, tsa.respond(_request(hashlib.sha256(b"t").digest())))
    assert "Time stamp: " in text


# --- refusals ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_der", "failure"),
    [
        (_request(hashlib.sha1(b"x").digest(), algorithm="sha1"), "bad_alg"),  # noqa: S324 - the refused algorithm
        (_request(hashlib.md5(b"x").digest(), algorithm="md5"), "bad_alg"),  # noqa: S324
        (_request(b"\x01" * 20), "bad_data_format"),  # a SHA-256 imprint of 20 bytes
        (_request(b"\x01" * 48, algorithm="sha512"), "bad_data_format"),
        (b"not DER at all", "bad_data_format"),
        (b"", "bad_data_format"),
        (_request(b"\x01" * 32)[:-3], "bad_data_format"),  # truncated
        (_request(b"\x01" * 32, req_policy="1.2.3.4"), "unaccepted_policy"),
        (
            _request(
                b"\x01" * 32,
                extensions=[{"extn_id": "1.2.3.4.5", "critical": False, "extn_value": b"\x05\x00"}],
            ),
            "unaccepted_extensions",
        ),
    ],
    ids=["sha1", "md5", "short", "sha512-48", "garbage", "empty", "truncated", "policy", "extension"],
)
def test_bad_requests_are_rejected_with_the_failure_rfc_3161_names_and_take_no_serial(
    ca, request_der: bytes, failure: str
) -> None:
    before = _sequence_of(_token(tsa.respond(_request(b"\x02" * 32))))
    status, failures = _status(tsa.respond(request_der))
    assert (status, failures) == ("rejection", {failure})
    after = _sequence_of(_token(tsa.respond(_request(b"\x02" * 32))))
    assert after == before + 1  # the refusal consumed no serial number


def test_openssl_reads_a_rejection_with_its_failure_info(ca, tmp_path: Path) -> None:
    _, text = _reply(tmp_path, tsa.respond(_request(hashlib.sha1(b"x").digest(), algorithm="sha1")))  # noqa: S324
    assert "Status: Rejected." in text and "unrecognized or unsupported algorithm identifier" in text


def test_a_version_2_request_is_a_bad_request(ca) -> None:
    der = bytearray(_request(b"\x01" * 32))
    assert der[2:5] == b"\x02\x01\x01"  # SEQUENCE { INTEGER 1 ...
    der[4] = 2
    assert _status(tsa.respond(bytes(der))) == ("rejection", {"bad_request"})


def test_an_unavailable_key_back_end_is_a_system_failure_not_an_error(ca, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: object, **kwargs: object) -> None:
        raise KeyBackendError("token not present")

    monkeypatch.setattr(tsa, "_unit_cache", None)
    monkeypatch.setattr(type(backend()), "signing_key", down)
    assert _status(tsa.respond(_request(b"\x01" * 32))) == ("rejection", {"system_failure"})


def test_before_the_tsa_exists_requests_get_a_system_failure(db) -> None:
    assert _status(tsa.respond(_request(b"\x01" * 32))) == ("rejection", {"system_failure"})


# --- over HTTP -------------------------------------------------------------------------------------------------


def test_the_http_endpoint_speaks_rfc_3161_section_3_4(ca) -> None:
    client = Client()
    good = client.post("/tsa", data=_request(b"\x01" * 32), content_type="application/timestamp-query")
    assert good.status_code == 200 and good["Content-Type"] == "application/timestamp-reply"
    assert _status(good.content) == ("granted", set())
    wrong_type = client.post("/tsa", data=_request(b"\x01" * 32), content_type="application/octet-stream")
    assert wrong_type["Content-Type"] == "application/timestamp-reply"
    assert _status(wrong_type.content) == ("rejection", {"bad_request"})
    huge = client.post("/tsa", data=b"\x30" * 20_000, content_type="application/timestamp-query")
    assert _status(huge.content) == ("rejection", {"bad_data_format"})
    nul = client.post("/tsa", data=b"\x00" * 10, content_type="application/timestamp-query")
    assert _status(nul.content) == ("rejection", {"bad_data_format"})
    get = client.get("/tsa")
    assert get.status_code == 405 and get["Allow"] == "POST"


@pytest.mark.django_db(transaction=True)
def test_openssl_query_posted_over_real_http_to_a_live_server_verifies(ca, live_server, tmp_path: Path) -> None:
    data, request = _query(tmp_path, b"a bid file" * 1000, "-cert", "-sha384")
    answer = httpx.post(
        f"{live_server.url}/tsa",
        content=Path(request).read_bytes(),
        headers={"Content-Type": "application/timestamp-query"},
        timeout=30,
    )
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/timestamp-reply"
    reply = write(tmp_path, "live.tsr", answer.content)
    files = _files(tmp_path)
    verified = openssl("ts", "-verify", "-queryfile", request, "-in", reply, "-CAfile", files["chain"])
    assert verified.returncode == 0 and "Verification: OK" in verified.stdout, verified.stderr
    assert openssl("ts", "-verify", "-data", data, "-in", reply, "-CAfile", files["chain"]).returncode == 0


def test_curl_style_post_of_an_openssl_query_through_the_test_client(ca, tmp_path: Path) -> None:
    _data, request = _query(tmp_path, b"x", "-no_nonce")
    response = Client().post("/tsa", data=Path(request).read_bytes(), content_type="application/timestamp-query")
    _, text = _reply(tmp_path, response.content)
    assert "Status: Granted." in text and "Nonce: unspecified" in text and "Certificate required: no" not in text


# --- the unit: its certificate, its key, its life ---------------------------------------------------------------


def test_the_unit_certificate_is_a_time_stamping_certificate_pkilint_finds_clean(ca, tmp_path: Path) -> None:
    unit = TimeStampUnit.objects.get(is_active=True)
    certificate = certificate_of(unit.certificate)
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert usage.critical and list(usage.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    assert key_usage.critical and key_usage.value.digital_signature and key_usage.value.content_commitment
    assert not (key_usage.value.key_cert_sign or key_usage.value.crl_sign or key_usage.value.key_agreement)
    assert not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    public_key = certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == "secp256r1"
    issuing = certificate_of(Authority.objects.get(role=AuthorityRole.ISSUING, is_active=True))
    certificate.verify_directly_issued_by(issuing)
    path = write(tmp_path, "tsa.pem", pem(certificate))
    assert lint("lint_pkix_cert", path) == []
    issuer_path = write(tmp_path, "issuing.pem", pem(issuing))
    chain = subprocess.run(  # noqa: S603
        [".venv/bin/lint_pkix_signer_signee_cert_chain", "lint", "-s", "WARNING", issuer_path, path],
        capture_output=True,
        text=True,
        check=False,
    )
    assert chain.returncode == 0 and not chain.stdout.strip(), chain.stdout + chain.stderr
    assert unit.certificate.usage == Usage.TIMESTAMP
    # never a bidder's certificate: no platform policy, not a signing certificate
    assert not channel_check(certificate, usage="sign").accepted


def test_the_ca_init_command_creates_the_unit_once_and_its_key_lives_in_the_back_end(ca_backend: str, db: None) -> None:
    assert not TimeStampUnit.objects.exists()
    call_command("ca_init", stdout=io.StringIO())
    call_command("ca_init", stdout=io.StringIO())
    unit = TimeStampUnit.objects.get(is_active=True)
    assert unit.key_backend == ("pkcs11" if ca_backend == "softhsm" else "keyfile")
    assert TimeStampUnit.objects.count() == 1 and IssuedCertificate.objects.filter(usage=Usage.TIMESTAMP).count() == 1
    key = backend().signing_key(unit.key_label)
    assert key.public_key() == certificate_of(unit.certificate).public_key()
    assert tsa.tsa_ensure() == unit


def test_a_rotation_signs_with_the_new_unit_and_old_tokens_still_verify(ca, tmp_path: Path) -> None:
    digest = hashlib.sha256(b"old").digest()
    old_token = tsa.stamp_digest(hash_oid="2.16.840.1.101.3.4.2.1", digest=digest)
    old = TimeStampUnit.objects.get(is_active=True)
    out = io.StringIO()
    call_command("ca_rotate_tsa", stdout=out)
    new = TimeStampUnit.objects.get(is_active=True)
    assert new.certificate.serial_hex in out.getvalue()
    assert new.pk != old.pk and TimeStampUnit.objects.filter(is_active=True).get() == new
    new_token = tsa.stamp_digest(hash_oid="2.16.840.1.101.3.4.2.1", digest=digest)
    assert tsa.token_verify(old_token, digest=digest).tsa_serial_hex == old.certificate.serial_hex
    assert tsa.token_verify(new_token, digest=digest).tsa_serial_hex == new.certificate.serial_hex


# --- verification of tokens we keep -----------------------------------------------------------------------------


def test_token_verify_accepts_ours_and_refuses_another_digest_a_changed_token_or_a_revoked_unit(ca) -> None:
    digest = hashlib.sha256(b"signature value").digest()
    token = tsa.stamp_digest(hash_oid="2.16.840.1.101.3.4.2.1", digest=digest)
    verified = tsa.token_verify(token, digest=digest)
    assert verified.policy == POLICY and verified.hashed_message == digest
    with pytest.raises(tsa.TokenInvalid):
        tsa.token_verify(token, digest=hashlib.sha256(b"another").digest())
    changed = bytearray(token)
    where = changed.find(digest)
    changed[where] ^= 1  # the imprint inside the signed TSTInfo
    with pytest.raises(tsa.TokenInvalid):
        tsa.token_verify(bytes(changed))
    with pytest.raises(tsa.TokenInvalid):
        tsa.token_verify(b"\x30\x03\x02\x01\x01")
    unit = TimeStampUnit.objects.get(is_active=True)
    certificate_revoke(serial_hex=unit.certificate.serial_hex, reason=x509.ReasonFlags.key_compromise)
    with pytest.raises(tsa.TokenInvalid, match="revoked"):
        tsa.token_verify(token, digest=digest)


def test_stamp_digest_refuses_what_the_protocol_refuses(ca) -> None:
    with pytest.raises(tsa.Rejected) as refused:
        tsa.stamp_digest(hash_oid="1.3.14.3.2.26", digest=b"\x00" * 20)
    assert refused.value.failure == "bad_alg"
    with pytest.raises(tsa.Rejected) as refused:
        tsa.stamp_digest(hash_oid="2.16.840.1.101.3.4.2.1", digest=b"\x00" * 31)
    assert refused.value.failure == "bad_data_format"


def test_serials_are_unique_and_follow_the_sequence(ca) -> None:
    tokens = [tsa.stamp_digest(hash_oid="2.16.840.1.101.3.4.2.3", digest=bytes([n]) * 64) for n in range(20)]
    serials = [cms.ContentInfo.load(t)["content"]["encap_content_info"]["content"].parsed["serial_number"].native
               for t in tokens]  # fmt: skip
    assert len(set(serials)) == 20
    sequences = [serial >> 64 for serial in serials]
    assert sequences == list(range(sequences[0], sequences[0] + 20))
    assert all(0 < serial < 2**159 for serial in serials)
