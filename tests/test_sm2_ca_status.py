"""Status of SM2 certificates over HTTP (issue 19): the OCSP responder (the Django view ``/pki/ocsp`` and the WSGI
responder in front of Django; GET and POST; SHA-1 and SHA-256 CertIDs) answers an SM2 credential's certificates with
their pre-produced SM2 answers, says revoked with the reason once a revocation commits, signs "unknown" for a serial
the SM2 issuing CA never issued, and the periodic job signs SM2 answers again; the SM2 issuing CA's CRL lists a
revoked SM2 credential. Peers nobody here wrote: the openssl command line makes the OCSP requests (so the CertID
hashes are its own), BouncyCastle verifies the answers and validates root → SM2 issuing CA → end entity with the
CRLs, pkilint lints the issued certificates, the CRL and the answers. ``gm.verify_ocsp`` checks the answers too."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.test import Client

from mobileca.ca import gm
from mobileca.ca.models import AuthorityRole, IssuedCertificate, OcspResponse
from mobileca.ca.ocsp import ocsp_refresh
from mobileca.ca.services import credential_revoke_all, crl_latest
from mobileca.core.clock import clock, now
from tests.support.ca import der, issue_sm2, lint, openssl, sm2_authority, write
from tests.test_gm_bouncycastle import PACKAGES, _missing, _run, checker  # noqa: F401 (the checker fixture)

needs_bouncycastle = pytest.mark.skipif(
    bool(_missing()), reason=f"BouncyCastle peer unavailable (missing: {_missing()}); apt-get install {PACKAGES}"
)
SHA1, SHA256 = "1.3.14.3.2.26", "2.16.840.1.101.3.4.2.1"
# pkilint's RFC 5480 rule on the SM2 encryption certificate's key usages: see tests/test_gm_pki.py for the reason.
EC_KEY_USAGE_FINDING = "pkix.key_usage_value_prohibited_for_ec"


def _pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)


def _request(tmp_path: Path, issuer_der: bytes, *, serial: int, digest: str = "sha1") -> bytes:
    """An OCSP request made by the openssl command line (its own CertID hashes of our SM2 issuing CA)."""
    issuer = write(tmp_path, "issuer.pem", _pem(issuer_der))
    out = tmp_path / f"request-{digest}-{serial:x}.der"
    result = openssl(
        "ocsp", "-issuer", issuer, f"-{digest}", "-serial", f"0x{serial:x}", "-no_nonce", "-reqout", str(out)
    )
    assert result.returncode == 0, result.stderr
    return out.read_bytes()


def _one(der: bytes, issuer_der: bytes) -> gm.OcspAnswer:
    (item,) = gm.verify_ocsp(der, issuer_der)
    return item


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def responder_url(transactional_db: None) -> Iterator[str]:
    """config.wsgi's application (the OCSP responder mounted before Django) on a loopback port; the server thread's
    database connection is closed after each request, so that PostgreSQL's test database can be dropped."""
    from django.db import connections

    from config.wsgi import application

    def closing(environ: dict[str, object], start_response: object) -> list[bytes]:
        try:
            return list(application(environ, start_response))  # type: ignore[arg-type]
        finally:
            connections.close_all()

    server = make_server("127.0.0.1", 0, closing, handler_class=_Quiet)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


# --- OCSP --------------------------------------------------------------------------------------------------------


def test_the_django_view_answers_sm2_certids_get_and_post_with_the_pre_produced_sm2_answer(ca, tmp_path) -> None:
    pair = issue_sm2()
    issuing = der(sm2_authority())
    client = Client()
    for record in (pair.sign, pair.encrypt):
        serial = int(record.serial_hex, 16)
        for digest in ("sha1", "sha256"):
            request = _request(tmp_path, issuing, serial=serial, digest=digest)
            stored = bytes(OcspResponse.objects.get(certificate=record, hash_algorithm=digest).der)
            posted = client.post("/pki/ocsp", data=request, content_type="application/ocsp-request")
            assert posted.status_code == 200 and posted["Content-Type"] == "application/ocsp-response"
            assert posted.content == stored  # the pre-produced answer, not one signed now
            fetched = client.get("/pki/ocsp/" + quote(base64.b64encode(request).decode(), safe=""))
            assert fetched.status_code == 200 and fetched.content == stored
            assert "max-age=" in fetched["Cache-Control"]
            answer = _one(fetched.content, issuing)
            assert (answer.serial, answer.status, answer.hash_algorithm) == (serial, "good", digest)
    # the ECDSA issuing CA does not answer for an SM2 serial: its CertID names another issuer
    ecdsa = der(sm2_authority(AuthorityRole.ISSUING))
    foreign = client.post(
        "/pki/ocsp",
        data=_request(tmp_path, ecdsa, serial=int(pair.sign.serial_hex, 16)),
        content_type="application/ocsp-request",
    )
    assert foreign.status_code == 200
    other = x509.ocsp.load_der_ocsp_response(foreign.content)
    assert other.serial_number == int(pair.sign.serial_hex, 16)
    assert other.certificate_status == x509.ocsp.OCSPCertStatus.UNKNOWN


@needs_bouncycastle
def test_the_wsgi_responder_says_good_then_revoked_with_the_reason_and_bouncycastle_agrees(
    ca, responder_url, tmp_path, checker
) -> None:
    pair = issue_sm2()
    issuing = der(sm2_authority())
    serial = int(pair.sign.serial_hex, 16)
    url = f"{responder_url}/pki/ocsp"
    said: dict[str, bytes] = {}
    for digest in ("sha1", "sha256"):
        request = _request(tmp_path, issuing, serial=serial, digest=digest)
        posted = httpx.post(url, content=request, headers={"Content-Type": "application/ocsp-request"})
        fetched = httpx.get(f"{url}/{quote(base64.b64encode(request).decode(), safe='')}")
        assert posted.status_code == fetched.status_code == 200
        assert posted.content == fetched.content
        assert _one(posted.content, issuing).status == "good"
        said[f"good_{digest}"] = posted.content
    assert credential_revoke_all(owner_id="sm2-cred-1", reason=x509.ReasonFlags.key_compromise) == 2  # commits
    for digest in ("sha1", "sha256"):
        request = _request(tmp_path, issuing, serial=serial, digest=digest)
        posted = httpx.post(url, content=request, headers={"Content-Type": "application/ocsp-request"})
        answer = _one(posted.content, issuing)
        assert (answer.status, answer.reason, answer.hash_algorithm) == ("revoked", "key_compromise", digest)
        assert answer.revoked_at is not None
        said[f"revoked_{digest}"] = posted.content
    files = {label: write(tmp_path, f"{label}.ocsp", der) for label, der in said.items()}
    issuer_file = write(tmp_path, "issuing.der", issuing)
    checked = _run(checker, {label: f"ocsp:{path},{issuer_file}" for label, path in files.items()})
    for digest, oid in (("sha1", SHA1), ("sha256", SHA256)):
        assert checked[f"good_{digest}"] == f"OK 1.2.156.10197.1.501 by-ca {serial:x}=good/{oid}"
        assert checked[f"revoked_{digest}"] == f"OK 1.2.156.10197.1.501 by-ca {serial:x}=revoked:1/{oid}"  # keyComp.


@needs_bouncycastle
def test_an_unknown_serial_under_the_sm2_issuing_ca_gets_a_signed_unknown(ca, tmp_path, checker) -> None:
    issuing = der(sm2_authority())
    serial = 0x5EED_0019
    for digest in ("sha1", "sha256"):
        posted = Client().post(
            "/pki/ocsp",
            data=_request(tmp_path, issuing, serial=serial, digest=digest),
            content_type="application/ocsp-request",
        )
        assert posted.status_code == 200
        answer = _one(posted.content, issuing)
        assert (answer.serial, answer.status, answer.hash_algorithm) == (serial, "unknown", digest)
        issuer_file = write(tmp_path, "issuing.der", issuing)
        checked = _run(checker, {"unknown": f"ocsp:{write(tmp_path, 'u.ocsp', posted.content)},{issuer_file}"})
        oid = SHA1 if digest == "sha1" else SHA256
        assert checked["unknown"] == f"OK 1.2.156.10197.1.501 by-ca {serial:x}=unknown/{oid}"
    assert not OcspResponse.objects.exists() and not IssuedCertificate.objects.exists()  # nothing stored


def test_the_periodic_job_signs_the_sm2_answers_again_past_half_their_lifetime(
    ca, tmp_path, django_capture_on_commit_callbacks
) -> None:
    pair = issue_sm2()
    issuing = der(sm2_authority())
    first = {row.pk: row.etag for row in OcspResponse.objects.filter(authority=sm2_authority())}
    assert len(first) == 4
    assert ocsp_refresh() == 0  # fresh: nothing to do
    with clock.frozen(now() + timedelta(minutes=31)):
        assert ocsp_refresh() == 4
        rows = list(OcspResponse.objects.filter(authority=sm2_authority()))
        served = Client().post(
            "/pki/ocsp",
            data=_request(tmp_path, issuing, serial=int(pair.sign.serial_hex, 16), digest="sha256"),
            content_type="application/ocsp-request",
        )
    assert len(rows) == 4 and not {row.etag for row in rows} & set(first.values())
    for row in rows:
        answer = _one(bytes(row.der), issuing)
        assert (answer.serial, answer.status) == (int(row.serial_hex, 16), "good")
        assert answer.this_update >= row.this_update - timedelta(seconds=1)
    assert served.content == bytes(OcspResponse.objects.get(certificate=pair.sign, hash_algorithm="sha256").der)


# --- the CRL and the whole path ------------------------------------------------------------------------------------


@needs_bouncycastle
def test_the_sm2_issuing_cas_crl_lists_a_revoked_credential_and_bouncycastle_validates_the_path(
    ca, tmp_path, checker, django_capture_on_commit_callbacks
) -> None:
    kept, gone = issue_sm2("sm2-kept"), issue_sm2("sm2-gone")
    issuing, root = sm2_authority(), sm2_authority(AuthorityRole.SM2_ROOT)
    number_before = crl_latest(AuthorityRole.SM2_ISSUING).number
    with django_capture_on_commit_callbacks(execute=True):
        credential_revoke_all(owner_id="sm2-gone", reason=x509.ReasonFlags.key_compromise)
    latest = crl_latest(AuthorityRole.SM2_ISSUING)
    assert latest.number == number_before + 1
    gm.verify_crl(bytes(latest.der), der(issuing))
    crl = x509.load_der_x509_crl(bytes(latest.der))
    listed = {entry.serial_number for entry in crl}
    assert listed == {int(gone.sign.serial_hex, 16), int(gone.encrypt.serial_hex, 16)}
    # served where the certificates say it is
    served = Client().get(f"/pki/ca/{issuing.serial_hex}.crl")
    assert served.status_code == 200 and served.content == bytes(latest.der)
    f = {
        "root": write(tmp_path, "root.der", der(root)),
        "issuing": write(tmp_path, "issuing.der", der(issuing)),
        "root_crl": write(tmp_path, "root.crl", bytes(crl_latest(AuthorityRole.SM2_ROOT).der)),
        "issuing_crl": write(tmp_path, "issuing.crl", bytes(latest.der)),
    }
    for label, record in (
        ("kept_sign", kept.sign),
        ("kept_encrypt", kept.encrypt),
        ("gone_sign", gone.sign),
        ("gone_encrypt", gone.encrypt),
    ):
        f[label] = write(tmp_path, f"{label}.der", der(record))
    crls = f"{f['root_crl']},{f['issuing_crl']}"
    said = _run(
        checker,
        {
            **{
                label: f"path:{f['root']},{crls},--,{f[label]},{f['issuing']}"
                for label in ("kept_sign", "kept_encrypt", "gone_sign", "gone_encrypt")
            },
            "crl": f"crl:{f['issuing_crl']},{f['issuing']}",
            "root_crl": f"crl:{f['root_crl']},{f['root']}",
            "issuing_cert": f"cert:{f['issuing']},{f['root']}",
            "kept_cert": f"cert:{f['kept_sign']},{f['issuing']}",
        },
    )
    assert said["kept_sign"] == said["kept_encrypt"] == "OK length=2"
    for label in ("gone_sign", "gone_encrypt"):
        assert said[label].startswith("FAIL CertPathValidatorException"), said[label]
        assert "revocation" in said[label] and "keyCompromise" in said[label]
    assert said["crl"] == "OK SM3WITHSM2 entries=2"
    assert said["root_crl"] == "OK SM3WITHSM2 entries=0"
    assert said["issuing_cert"] == said["kept_cert"] == "OK SM3WITHSM2 1.2.156.10197.1.501"
    # pyOpenSSL's X509Store with the same CRLs agrees (gm.validate_chain)
    chain = ([der(issuing)], [der(root)], [bytes(crl_latest(AuthorityRole.SM2_ROOT).der), bytes(latest.der)])
    gm.validate_chain(der(kept.sign), *chain)
    with pytest.raises(gm.GmVerifyError, match="revoked"):
        gm.validate_chain(der(gone.sign), *chain)


def _findings(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if line.startswith(" ")]


def test_pkilint_finds_the_issued_sm2_certificates_crl_and_answers_clean(
    ca, tmp_path, django_capture_on_commit_callbacks
) -> None:
    pair = issue_sm2()
    assert lint("lint_pkix_cert", write(tmp_path, "sign.pem", _pem(der(pair.sign)))) == []
    findings = _findings(lint("lint_pkix_cert", write(tmp_path, "encrypt.pem", _pem(der(pair.encrypt)))))
    assert len(findings) == 1 and findings[0].startswith(EC_KEY_USAGE_FINDING + " (ERROR)"), findings
    for role in (AuthorityRole.SM2_ROOT, AuthorityRole.SM2_ISSUING):
        assert lint("lint_pkix_cert", write(tmp_path, f"{role}.pem", _pem(der(sm2_authority(role))))) == [], role
    with django_capture_on_commit_callbacks(execute=True):
        credential_revoke_all(owner_id="sm2-cred-1", reason=x509.ReasonFlags.superseded)
    crl = write(tmp_path, "issuing.crl", bytes(crl_latest(AuthorityRole.SM2_ISSUING).der))
    assert lint("lint_crl", crl, "-t", "CRL", "-p", "PKIX") == []
    rows = list(OcspResponse.objects.filter(certificate=pair.sign))
    assert len(rows) == 2
    for row in rows:
        assert _one(bytes(row.der), der(sm2_authority())).status == "revoked"
        path = write(tmp_path, f"{row.hash_algorithm}.ocsp", bytes(row.der))
        assert lint("lint_ocsp_response", path, "--document-format", "DER") == [], row.hash_algorithm
