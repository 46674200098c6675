"""Pre-produced OCSP responses (RFC 6960 §2.4, RFC 5019) and the responder in front of Django (issue 16)."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID
from django.test import Client

from mobileca.ca.keys import generate_user_key
from mobileca.ca.models import Authority, IssuedCertificate, OcspResponse
from mobileca.ca.ocsp import answer, ocsp_refresh
from mobileca.ca.services import certificate_of, certificate_revoke, credential_issue
from mobileca.core.clock import clock, now
from tests.support.ca import SUBJECT, foreign_ca
from tests.support.ca import lint as _lint
from tests.support.ca import openssl as _openssl
from tests.support.ca import pem as _pem
from tests.support.ca import write as _write


def _issue(owner: str = "cred-1"):
    return credential_issue(
        owner_id=owner,
        subject=SUBJECT,
        sign_public_key=generate_user_key().public_key(),  # type: ignore[arg-type]
        encrypt_public_key=generate_user_key().public_key(),  # type: ignore[arg-type]
        valid_days=365,
    )


def _request(record: IssuedCertificate, issuer: x509.Certificate, algorithm=None, nonce: bytes | None = None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(certificate_of(record), issuer, algorithm or hashes.SHA256())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _post(der: bytes):
    return answer(
        method="POST",
        encoded=None,
        body=der,
        content_type="application/ocsp-request",
        if_none_match="",
        client="192.0.2.1",
    )


def _read(body: bytes, issuer: x509.Certificate) -> ocsp.OCSPResponse:
    response = ocsp.load_der_ocsp_response(body)
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    issuer.public_key().verify(  # type: ignore[call-arg]
        response.signature,
        response.tbs_response_bytes,
        ec.ECDSA(response.signature_hash_algorithm),  # type: ignore[arg-type]
    )
    return response


class _NoKeys:
    """A key back-end that refuses to sign: whatever reaches it is a key operation."""

    name = "none"

    def signing_key(self, label: str):
        raise AssertionError(f"key operation for {label}")


def test_issuance_produces_a_response_per_certid_hash_and_serves_it_without_database_or_key(
    ca, django_capture_on_commit_callbacks, django_assert_num_queries, monkeypatch
) -> None:
    _root, issuing = ca
    issuer = certificate_of(issuing)
    with django_capture_on_commit_callbacks(execute=True):
        pair = _issue()
    stored = OcspResponse.objects.filter(certificate=pair.sign)
    assert sorted(stored.values_list("hash_algorithm", flat=True)) == ["sha1", "sha256"]
    for row in stored:
        assert row.etag == hashlib.sha256(bytes(row.der)).hexdigest()
        assert row.next_update - row.this_update == timedelta(minutes=60)
        parsed = _read(bytes(row.der), issuer)
        assert parsed.certificate_status == ocsp.OCSPCertStatus.GOOD
        assert parsed.hash_algorithm.name == row.hash_algorithm
        assert len(parsed.extensions) == 0  # no nonce in a pre-produced response
    monkeypatch.setattr("mobileca.ca.ocsp.configured_backend", lambda: _NoKeys())
    for algorithm in (hashes.SHA1(), hashes.SHA256()):  # noqa: S303
        with django_assert_num_queries(1):  # the first request reads the stored response into the cache
            assert _post(_request(pair.sign, issuer, algorithm)).status == 200
        with django_assert_num_queries(0):  # steady state: the cache only, no key operation
            result = _post(_request(pair.sign, issuer, algorithm))
        assert result.status == 200
        response = _read(result.body, issuer)
        assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
        assert response.serial_number == int(pair.sign.serial_hex, 16)
        assert result.body == bytes(stored.get(hash_algorithm=algorithm.name).der)


def test_revocation_replaces_the_good_response_and_a_failed_signature_never_leaves_good_served(
    ca, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    issuer = certificate_of(ca[1])
    with django_capture_on_commit_callbacks(execute=True):
        pair = _issue()
    assert _read(_post(_request(pair.sign, issuer)).body, issuer).certificate_status == ocsp.OCSPCertStatus.GOOD
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        certificate_revoke(serial_hex=pair.sign.serial_hex, reason=x509.ReasonFlags.key_compromise)
    # inside the revocation: the good responses are gone from table and cache before anything is signed
    assert not OcspResponse.objects.filter(certificate=pair.sign).exists()
    served = _read(_post(_request(pair.sign, issuer)).body, issuer)  # signed on demand, not the old "good"
    assert served.certificate_status == ocsp.OCSPCertStatus.REVOKED
    for callback in callbacks:
        callback()
    rows = OcspResponse.objects.filter(certificate=pair.sign)
    assert rows.count() == 2
    for row in rows:
        parsed = _read(bytes(row.der), issuer)
        assert parsed.certificate_status == ocsp.OCSPCertStatus.REVOKED
        assert parsed.revocation_reason == x509.ReasonFlags.key_compromise
    # the other certificate of the pair keeps its good response
    assert _read(_post(_request(pair.encrypt, issuer)).body, issuer).certificate_status == ocsp.OCSPCertStatus.GOOD


def test_a_nonce_gets_the_pre_produced_response_unless_live_signing_is_asked_for(
    ca, django_capture_on_commit_callbacks, settings
) -> None:
    issuer = certificate_of(ca[1])
    with django_capture_on_commit_callbacks(execute=True):
        pair = _issue()
    stored = bytes(OcspResponse.objects.get(certificate=pair.sign, hash_algorithm="sha256").der)
    result = _post(_request(pair.sign, issuer, nonce=b"0123456789abcdef"))
    assert result.body == stored  # RFC 8954: the responder may leave the nonce out
    settings.MOBILECA_OCSP_LIVE_NONCE = True
    settings.MOBILECA_RATE_LIMITS = {"ocsp_live": "1/h"}
    live = _read(_post(_request(pair.sign, issuer, nonce=b"0123456789abcdef")).body, issuer)
    assert live.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"0123456789abcdef"
    assert live.certificate_status == ocsp.OCSPCertStatus.GOOD
    refused = ocsp.load_der_ocsp_response(_post(_request(pair.sign, issuer, nonce=b"another nonce")).body)
    assert refused.response_status == ocsp.OCSPResponseStatus.TRY_LATER


def test_the_periodic_job_signs_again_past_half_the_lifetime_only(ca, django_capture_on_commit_callbacks) -> None:
    from mobileca.ca.tasks import refresh_ocsp_responses

    with django_capture_on_commit_callbacks(execute=True):
        pair = _issue()
    first = OcspResponse.objects.get(certificate=pair.sign, hash_algorithm="sha1")
    assert ocsp_refresh() == 0  # all fresh
    with clock.frozen(now() + timedelta(minutes=31)):
        assert ocsp_refresh() == 4  # two certificates, two CertID hashes each
        again = OcspResponse.objects.get(certificate=pair.sign, hash_algorithm="sha1")
        assert again.this_update > first.this_update and again.der != first.der
        assert refresh_ocsp_responses.call_local() == 0


def test_a_missing_response_is_produced_by_the_job_and_on_demand(ca) -> None:
    # as after a failed signature or responses lost: nothing is stored for the pair
    issuer = certificate_of(ca[1])
    pair = _issue()
    assert OcspResponse.objects.filter(certificate__in=[pair.sign, pair.encrypt]).count() == 4  # with the issuance
    OcspResponse.objects.all().delete()
    served = _read(_post(_request(pair.sign, issuer)).body, issuer)
    assert served.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert OcspResponse.objects.filter(certificate=pair.sign).count() == 2
    assert ocsp_refresh() == 2  # the encryption certificate's


def test_pre_produced_responses_lint_clean_under_pkilint(ca, django_capture_on_commit_callbacks, tmp_path) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        pair = _issue()
    with django_capture_on_commit_callbacks(execute=True):
        certificate_revoke(serial_hex=pair.encrypt.serial_hex, reason=x509.ReasonFlags.superseded)
    for row in OcspResponse.objects.all():
        path = _write(tmp_path, f"{row.serial_hex}-{row.hash_algorithm}.ocsp", bytes(row.der))
        assert _lint("lint_ocsp_response", path, "--document-format", "DER") == [], path


def test_get_carries_rfc5019_cache_headers_and_answers_304_to_its_etag(ca, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        pair = _issue()
    row = OcspResponse.objects.get(certificate=pair.sign, hash_algorithm="sha256")
    url = "/pki/ocsp/" + base64.b64encode(_request(pair.sign, certificate_of(ca[1]))).decode()
    response = Client().get(url)
    assert response.status_code == 200 and response.content == bytes(row.der)
    assert response["Content-Type"] == "application/ocsp-response"
    assert response["ETag"] == f'"{row.etag}"'
    max_age = int(response["Cache-Control"].split("max-age=")[1].split(",")[0])
    assert 3590 <= max_age <= 3600
    assert {"public", "no-transform", "must-revalidate"} <= {
        part.strip() for part in response["Cache-Control"].split(",")
    }
    assert response["Expires"] and response["Last-Modified"]
    again = Client().get(url, headers={"If-None-Match": response["ETag"]})
    assert again.status_code == 304 and again.content == b""
    other = Client().get(url, headers={"If-None-Match": '"something else"'})
    assert other.status_code == 200 and other.content == bytes(row.der)


def test_crl_has_etag_last_modified_a_short_max_age_and_conditional_get(ca) -> None:
    response = Client().get("/pki/issuing.crl")
    assert response.status_code == 200
    assert response["ETag"] == f'"{hashlib.sha256(response.content).hexdigest()}"'
    assert response["Last-Modified"]
    assert "max-age=300" in response["Cache-Control"]
    assert Client().get("/pki/issuing.crl", headers={"If-None-Match": response["ETag"]}).status_code == 304
    pair = _issue()
    certificate_revoke(serial_hex=pair.sign.serial_hex, reason=x509.ReasonFlags.key_compromise)
    fresh = Client().get("/pki/issuing.crl", headers={"If-None-Match": response["ETag"]})  # a new CRL: new ETag
    assert fresh.status_code == 200 and fresh["ETag"] != response["ETag"]


# --- the WSGI responder in front of Django, with openssl as the client ------------------------------------------


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def responder_url(transactional_db: None) -> Iterator[str]:
    """config.wsgi's application (the responder mounted before Django) on a loopback port."""
    from config.wsgi import application

    server = make_server("127.0.0.1", 0, application, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _openssl_ocsp(files: dict[str, str], url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return _openssl("ocsp", "-issuer", files["issuer"], "-url", url, "-CAfile", files["anchor"], "-resp_text", *extra)


def test_openssl_against_the_mounted_responder_good_then_revoked_and_others_pass_to_django(ca, responder_url, tmp_path):
    root, issuing = ca
    pair = _issue()
    files = {
        "issuer": _write(tmp_path, "issuing.pem", _pem(certificate_of(issuing))),
        "anchor": _write(tmp_path, "root.pem", _pem(certificate_of(root))),
        "leaf": _write(tmp_path, "leaf.pem", _pem(certificate_of(pair.sign))),
    }
    url = f"{responder_url}/pki/ocsp"
    result = _openssl_ocsp(files, url, "-cert", files["leaf"])
    assert result.returncode == 0 and "Response verify OK" in result.stderr, result.stderr
    assert f"{files['leaf']}: good" in result.stdout
    certificate_revoke(serial_hex=pair.sign.serial_hex, reason=x509.ReasonFlags.key_compromise)
    result = _openssl_ocsp(files, url, "-cert", files["leaf"])  # right after the revocation
    assert result.returncode == 0 and "Response verify OK" in result.stderr, result.stderr
    assert f"{files['leaf']}: revoked" in result.stdout and "Reason: keyCompromise" in result.stdout
    # a nonce in the request (openssl sends one by default) is left out of the answer: -no_nonce is not needed,
    # and with the nonce check it warns but accepts
    assert "WARNING: no nonce in response" in result.stderr
    # GET over the responder, with its ETag
    get_url = f"{url}/" + base64.b64encode(_request(pair.sign, certificate_of(issuing))).decode()
    first = httpx.get(get_url)
    assert first.status_code == 200 and first.headers["etag"]
    assert httpx.get(get_url, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    # everything else is Django's
    assert httpx.get(f"{responder_url}/pki/chain.pem").status_code == 200
    assert httpx.get(f"{responder_url}/pki/issuing.crl").headers["content-type"] == "application/pkix-crl"


def test_openssl_accepts_unauthorized_from_the_mounted_responder_for_a_foreign_issuer(ca, responder_url, tmp_path):
    other = foreign_ca(9)
    path = _write(tmp_path, "other.pem", _pem(other))
    result = _openssl("ocsp", "-issuer", path, "-serial", "0x99", "-url", f"{responder_url}/pki/ocsp", "-CAfile", path)
    assert "Responder Error: unauthorized (6)" in result.stdout + result.stderr, result.stdout + result.stderr


def test_malformed_and_wrong_methods_through_the_mounted_responder(ca, responder_url) -> None:
    bad = httpx.post(
        f"{responder_url}/pki/ocsp", content=b"\x30\x03abc", headers={"Content-Type": "application/ocsp-request"}
    )
    assert bad.status_code == 200
    assert ocsp.load_der_ocsp_response(bad.content).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert (
        httpx.post(f"{responder_url}/pki/ocsp", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 400
    )
    assert httpx.put(f"{responder_url}/pki/ocsp", content=b"x").status_code == 405
    # nothing written by any of it (the authorities: the ECDSA and the SM2 root and issuing CA, issue 19)
    assert Authority.objects.count() == 4 and not OcspResponse.objects.exists()


def test_a_retired_issuing_ca_is_still_answered_for_after_rotation(ca, responder_url, tmp_path, capsys) -> None:
    # `manage.py ca_rotate_issuing`: new certificates from the new CA; the retired CA's certificates still get
    # good, then revoked, from openssl; their responses are refreshed by the job and their CRL is published
    from django.core.management import call_command

    from mobileca.ca.services import crl_latest, crls_refresh

    root, old = ca
    before = _issue("cred-old")
    call_command("ca_rotate_issuing")
    assert "issuing CA rotated" in capsys.readouterr().out
    new = Authority.objects.get(role="issuing", is_active=True)
    assert new.pk != old.pk and not Authority.objects.get(pk=old.pk).is_active
    certificate_of(new).verify_directly_issued_by(certificate_of(root))
    after = _issue("cred-new")
    assert after.sign.authority_id == new.pk
    files = {
        "issuer": _write(tmp_path, "old.pem", _pem(certificate_of(old))),
        "anchor": _write(tmp_path, "root.pem", _pem(certificate_of(root))),
        "leaf": _write(tmp_path, "leaf.pem", _pem(certificate_of(before.sign))),
    }
    url = f"{responder_url}/pki/ocsp"
    result = _openssl_ocsp(files, url, "-cert", files["leaf"])
    assert result.returncode == 0 and "Response verify OK" in result.stderr, result.stderr
    assert f"{files['leaf']}: good" in result.stdout
    certificate_revoke(serial_hex=before.sign.serial_hex, reason=x509.ReasonFlags.key_compromise)
    result = _openssl_ocsp(files, url, "-cert", files["leaf"])
    assert result.returncode == 0 and "Response verify OK" in result.stderr, result.stderr
    assert f"{files['leaf']}: revoked" in result.stdout
    # the new CA's certificate, through the same responder
    new_files = {**files, "issuer": _write(tmp_path, "new.pem", _pem(certificate_of(new)))}
    leaf = _write(tmp_path, "new-leaf.pem", _pem(certificate_of(after.sign)))
    result = _openssl_ocsp(new_files, url, "-cert", leaf)
    assert result.returncode == 0 and f"{leaf}: good" in result.stdout, result.stderr
    # the retired CA's CRL: served by its serial, lists the revocation, refreshed by the job with the others
    # the retired CA's certificates name its own CRL and certificate (not the new CA's /pki/issuing.*)
    leaf_certificate = certificate_of(before.sign)
    points = leaf_certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    (crl_url,) = [name.value for point in points for name in point.full_name or []]
    access = leaf_certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    (issuer_url,) = [
        item.access_location.value for item in access if item.access_method == AuthorityInformationAccessOID.CA_ISSUERS
    ]
    assert crl_url.endswith(f"/pki/ca/{old.serial_hex}.crl") and issuer_url.endswith(f"/pki/ca/{old.serial_hex}.crt")
    fetched = httpx.get(f"{responder_url}/pki/ca/{old.serial_hex}.crt")
    assert fetched.content == bytes(Authority.objects.get(pk=old.pk).certificate_der)
    served = httpx.get(f"{responder_url}/pki/ca/{old.serial_hex}.crl")
    crl = x509.load_der_x509_crl(served.content)
    assert crl.issuer == certificate_of(old).subject
    assert crl.get_revoked_certificate_by_serial_number(int(before.sign.serial_hex, 16)) is not None
    assert x509.load_der_x509_crl(bytes(crl_latest("issuing").der)).issuer == certificate_of(new).subject
    with clock.frozen(now() + timedelta(hours=13)):
        assert crls_refresh() == 5  # root, the new and the retired issuing CA; the SM2 root and issuing CA
        # and the retired CA's responses are refreshed too
        assert OcspResponse.objects.filter(authority_id=old.pk).count() == 4
        assert ocsp_refresh() == 8


def test_the_shared_file_cache_sees_another_process_write_and_delete_at_once(tmp_path, monkeypatch) -> None:
    # two instances on one folder stand for two worker processes: a memoised entry never outlives a change
    from mobileca.ca.cache import SharedFileCache

    reader, writer = SharedFileCache(str(tmp_path), {}), SharedFileCache(str(tmp_path), {})
    writer.set("k", "good", 3600)
    assert reader.get("k") == "good"
    assert reader.get("k") == "good"  # from the memo
    writer.set("k", "revoked", 3600)
    assert reader.get("k") == "revoked"
    writer.delete("k")
    assert reader.get("k") is None
    writer.set("short", "value", 1)
    assert reader.get("short") == "value"
    later = time.time() + 5  # the entry's own expiry holds for the memo too
    monkeypatch.setattr(time, "time", lambda: later)
    assert reader.get("short") is None
