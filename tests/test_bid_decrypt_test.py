"""「解密测试」 before the deadline (issue 21, R5.2): authorised with the PIN on the phone like the opening, the
ciphertext decrypted streaming, the tag and the signature checked, the outcome recorded and shown; no plaintext kept
(the private storage folder and the database are checked) and the bid's status and opening fields unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from mobileca.bidding.models import Bid, DecryptTest
from mobileca.bidding.storage import ciphertext_path
from mobileca.cards.models import Card
from tests.support.bidding import sealed_bid, tender_open_for_bids
from tests.support.shield import _activated, ca_ready, card, registered  # noqa: F401 (fixtures)

PIN = "135790"
CONTENT = b"%PDF-1.7 dry run of the opening " * 20_000


@pytest.fixture
def claimant(bidder_client: Client, registered: Card, ca_ready: None, settings: Any, tmp_path: Path) -> Card:
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    _activated(bidder_client, registered)
    bidder_client.get(f"/ca/cards/{registered.cert_id}/claim/status/")
    registered.refresh_from_db()
    return registered


def _phone(user_id: str = "2088102000000001") -> Client:
    phone = Client()
    start = phone.get("/h5/login/?next=/h5/authorizations/")
    back = phone.post(start["Location"].removeprefix("http://testserver"), {"user_id": user_id})
    phone.get(back["Location"].removeprefix("http://testserver"))
    return phone


def _listing(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def _bid_fields(bid: Bid) -> tuple[Any, ...]:
    bid.refresh_from_db()
    return (bid.status, bid.opened_at, bid.plaintext_name, bid.signature_valid, bid.authorization_handle)


def _dry_run(bidder_client: Client, bid: Bid) -> tuple[DecryptTest, str]:
    assert bidder_client.post(f"/bidding/bids/{bid.pk}/decrypt-test/").status_code == 302
    test = DecryptTest.objects.get(bid=bid)
    assert test.outcome == "pending" and test.authorization_url
    approved = _phone().post(
        test.authorization_url.removeprefix("http://testserver"), {"pin": PIN, "decision": "approve"}
    )
    assert approved.status_code in (200, 302)
    page = bidder_client.get(f"/bidding/bids/{bid.pk}/").content.decode()
    test.refresh_from_db()
    return test, page


def _no_plaintext_in_database(bid: Bid) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("bidding_bid", "bidding_decrypttest", "bidding_readinesscheck"):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed table names
            for row in cursor.fetchall():
                for value in row:
                    raw = bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode()
                    assert CONTENT[:64] not in raw


def test_a_dry_run_passes_keeps_no_plaintext_and_does_not_open_the_bid(
    bidder_client: Client, claimant: Card, tmp_path: Path
) -> None:
    """Issue 21: the 「解密测试」 decrypts with the claimant's PIN, records passed, shows it; the private storage holds
    the same files before and after, the database no plaintext, and the bid is still 已递交 with no opening fields."""
    bid = sealed_bid(tender=tender_open_for_bids(), service_no=claimant.service_no, content=CONTENT)
    root = tmp_path / "private"
    before_files, before_bid = _listing(root), _bid_fields(bid)
    test, page = _dry_run(bidder_client, bid)
    assert (test.outcome, test.failure_code) == ("passed", "")
    assert "解密测试通过" in page
    from mobileca.audit.models import AuditEvent

    assert AuditEvent.objects.filter(action="bid.decrypt_test", subject=f"bid:{bid.pk}").count() == 1
    assert _listing(root) == before_files
    assert _bid_fields(bid) == before_bid and before_bid[0] == "submitted"
    _no_plaintext_in_database(bid)


def test_a_dry_run_of_a_tampered_ciphertext_is_recorded_as_failed(
    bidder_client: Client, claimant: Card, tmp_path: Path
) -> None:
    """Issue 21: a flipped byte in the stored ciphertext — the GCM tag fails; the test is recorded as failed
    (tampered) and shown, nothing is kept and the bid's status is unchanged."""
    bid = sealed_bid(tender=tender_open_for_bids(), service_no=claimant.service_no, content=CONTENT)
    path = ciphertext_path(bid)
    data = path.read_bytes()
    path.write_bytes(data[:500] + bytes([data[500] ^ 0x40]) + data[501:])
    root = tmp_path / "private"
    before_files, before_bid = _listing(root), _bid_fields(bid)
    test, page = _dry_run(bidder_client, bid)
    assert (test.outcome, test.failure_code) == ("failed", "tampered")
    assert test.failure_message in page
    assert _listing(root) == before_files
    assert _bid_fields(bid) == before_bid
    _no_plaintext_in_database(bid)


def test_no_dry_run_after_the_deadline(bidder_client: Client, claimant: Card) -> None:
    """Issue 21: the 「解密测试」 is for before the deadline; afterwards it is refused and nothing is recorded."""
    from datetime import timedelta

    from mobileca.core.clock import clock

    bid = sealed_bid(tender=tender_open_for_bids(), service_no=claimant.service_no, content=b"late")
    clock.set(bid.tender.bid_deadline + timedelta(minutes=1))
    response = bidder_client.post(f"/bidding/bids/{bid.pk}/decrypt-test/")
    assert response.status_code == 409
    assert not DecryptTest.objects.exists() and _bid_fields(bid)[0] == "submitted"


@pytest.fixture
def sm2_claimant(bidder_client: Client, registered: Card, ca_ready: None, settings: Any, tmp_path: Path) -> Card:
    """A card claimed while new credentials are of the SM2 key profile (GB/T 35275 bids, issue 19)."""
    from mobileca.ca.tsa import tsa_ensure

    tsa_ensure()
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    settings.MOBILECA_KEY_PROFILE = "sm2"
    _activated(bidder_client, registered)
    bidder_client.get(f"/ca/cards/{registered.cert_id}/claim/status/")
    registered.refresh_from_db()
    return registered


@pytest.mark.parametrize(
    ("mode", "tamper", "outcome"),
    [("gcm", False, ""), ("cbc", False, ""), ("gcm", True, "tampered"), ("cbc", True, "signature_invalid")],
)
def test_a_dry_run_of_an_sm2_bid(
    bidder_client: Client, sm2_claimant: Card, tmp_path: Path, mode: str, tamper: bool, outcome: str
) -> None:
    """Issue 21 (R5.2, GB/T 35275): SM4-GCM checks its tag, SM4-CBC the SM3 its verified signature states; a
    tampered SM4-GCM ciphertext fails on the tag, an SM4-CBC bid with a broken signature is not decrypted at all.
    Either way nothing is kept and the bid is not opened."""
    from asn1crypto import cms

    from tests.support.bidding import sm2_sealed_bid

    bid = sm2_sealed_bid(tender=tender_open_for_bids(), service_no=sm2_claimant.service_no, content=CONTENT, mode=mode)
    if tamper and mode == "gcm":
        path = ciphertext_path(bid)
        data = path.read_bytes()
        path.write_bytes(data[:500] + bytes([data[500] ^ 0x40]) + data[501:])
    elif tamper:
        info = cms.ContentInfo.load(bytes(bid.signature))
        signer = info["content"]["signer_infos"][0]
        broken = bytearray(signer["signature"].native)
        broken[-1] ^= 0x01
        signer["signature"] = bytes(broken)
        Bid.objects.filter(pk=bid.pk).update(signature=info.dump(force=True))
    root = tmp_path / "private"
    before_files, before_bid = _listing(root), _bid_fields(bid)
    test, page = _dry_run(bidder_client, bid)
    assert (test.outcome, test.failure_code) == (("failed", outcome) if outcome else ("passed", ""))
    assert ("解密测试通过" in page) is not bool(outcome)
    assert _listing(root) == before_files
    assert _bid_fields(bid) == before_bid and before_bid[0] == "submitted"
    _no_plaintext_in_database(bid)


def test_the_discarding_sink_checks_the_tag_and_gives_the_digest_without_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 21: ``enveloped.open_to_file`` with no target decrypts to nothing (the working folder stays empty) yet
    returns the digest opening to a file returns, and still refuses a tampered ciphertext."""
    import hashlib
    import io
    import os
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from mobileca.cmslib import enveloped
    from mobileca.core.clock import now

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dry run recipient")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now() - timedelta(days=1))
        .not_valid_after(now() + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cek = bytes(range(32))
    monkeypatch.setattr(enveloped.secrets, "token_bytes", lambda n: cek[:n])  # a content key the test knows
    ciphertext = io.BytesIO()
    sealed = enveloped.seal(io.BytesIO(CONTENT), ciphertext, certificate)
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    size, digest = enveloped.open_to_file(sealed.header, cek, io.BytesIO(ciphertext.getvalue()), None)
    assert (size, digest) == (len(CONTENT), hashlib.sha256(CONTENT).digest())
    assert os.listdir(tmp_path) == []
    kept = tmp_path / "kept"
    assert enveloped.open_to_file(sealed.header, cek, io.BytesIO(ciphertext.getvalue()), kept)[1] == digest
    assert kept.read_bytes() == CONTENT
    kept.unlink()
    broken = bytearray(ciphertext.getvalue())
    broken[7] ^= 1
    with pytest.raises(enveloped.Tampered):
        enveloped.open_to_file(sealed.header, cek, io.BytesIO(bytes(broken)), None)
    assert os.listdir(tmp_path) == []
