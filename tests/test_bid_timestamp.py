"""Sealed bids with proof of time (issue 17): at submission each bid's signature gets an RFC 3161 token from the
platform's TSA (over the SHA-256 of the SignerInfo's signature value), kept with the bid; openssl verifies it; at
the opening it is checked and shown as 「递交时间（可信时间戳）」; a token whose time is past the deadline refuses the
submission; a bid without a token says so."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from django.test import Client

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.bidding import services
from mobileca.bidding.models import Bid, BidStatus
from mobileca.ca import facade as ca
from mobileca.ca.tsa import tsa_ensure
from mobileca.cards.models import Card
from mobileca.core.clock import clock, now
from mobileca.shield.models import Credential
from tests.support.bidding import announced_bid, sealed_bid, tender_open_for_bids
from tests.support.ca import openssl, write
from tests.support.platform import login
from tests.support.shield import LEGAL_REP, PIN, activated_credential, ca_ready, card, phone_login, registered  # noqa: F401 (fixtures)


@pytest.fixture
def bidder_and_credential(bidder: User, registered: Card, ca_ready: None) -> tuple[Client, Credential]:
    tsa_ensure()  # the time-stamping unit, as `manage.py ca_init` makes it
    credential = activated_credential(registered)
    client = login(Client(), bidder)
    client.get(f"/ca/cards/{registered.cert_id}/claim/status/")  # the platform learns of the activation
    return client, credential


def _signature_value(signature_der: bytes) -> bytes:
    return cms.ContentInfo.load(signature_der)["content"]["signer_infos"][0]["signature"].native


def _open(bidder_client: Client, bid: Bid) -> Bid:
    """At the opening time the bidder asks; the claimant approves on the phone with the PIN."""
    clock.set(bid.tender.opening_at + timedelta(minutes=1))
    assert bidder_client.post(f"/bidding/bids/{bid.pk}/open/").status_code == 302
    bid.refresh_from_db()
    phone = phone_login(LEGAL_REP, "/h5/authorizations/")
    phone.post(bid.authorization_url.removeprefix("http://testserver"), {"pin": PIN, "decision": "approve"})
    bidder_client.get(f"/bidding/bids/{bid.pk}/")
    bid.refresh_from_db()
    assert bid.status == BidStatus.OPENED, (bid.failure_code, bid.failure_message)
    return bid


def _page(bidder_client: Client, bid: Bid) -> str:
    return bidder_client.get(f"/bidding/bids/{bid.pk}/").content.decode()


def test_a_submitted_bid_keeps_a_token_over_its_signature_that_openssl_verifies(
    bidder_and_credential: tuple[Client, Credential], tmp_path: Path
) -> None:
    client, credential = bidder_and_credential
    before = now()
    bid = sealed_bid(tender=tender_open_for_bids(), service_no=credential.service_no, content=b"bid with a time")
    token = bytes(bid.timestamp_token)
    assert token and bid.timestamped_at is not None and before <= bid.timestamped_at <= now()
    imprint = hashlib.sha256(_signature_value(bytes(bid.signature))).digest()
    chain = write(tmp_path, "chain.pem", "".join(reversed(ca.chain_pems())).encode())  # root, then issuing
    verified = openssl(
        "ts", "-verify", "-digest", imprint.hex(), "-token_in", "-in", write(tmp_path, "bid.tst", token),
        "-CAfile", chain,
    )  # fmt: skip
    assert verified.returncode == 0 and "Verification: OK" in verified.stdout, verified.stderr
    other = hashlib.sha256(bytes(bid.signature)).digest()  # the whole .p7s is not what was stamped
    refused = openssl(
        "ts", "-verify", "-digest", other.hex(), "-token_in", "-in", str(tmp_path / "bid.tst"), "-CAfile", chain
    )  # fmt: skip
    assert refused.returncode != 0
    event = AuditEvent.objects.get(action="bid.submitted", subject=f"bid:{bid.pk}")
    assert event.data["timestamp"] == bid.timestamped_at.isoformat()
    page = _page(client, bid)
    assert "递交时间（可信时间戳）" in page and 'data-timestamp="unchecked"' in page


def test_at_the_opening_the_token_is_checked_and_shown_as_the_submission_time(
    bidder_and_credential: tuple[Client, Credential],
) -> None:
    client, credential = bidder_and_credential
    bid = sealed_bid(tender=tender_open_for_bids(), service_no=credential.service_no, content=b"opened with a time")
    opened = _open(client, bid)
    assert opened.signature_valid is True and opened.timestamp_valid is True and opened.timestamp_message == ""
    page = _page(client, opened)
    shown = opened.timestamped_at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if opened.timestamped_at else "?"
    assert 'data-timestamp="valid"' in page and "时间戳验证通过" in page and shown in page
    event = AuditEvent.objects.get(action="bid.opened", subject=f"bid:{bid.pk}")
    assert event.data["timestamp_valid"] is True


def test_a_token_over_another_signature_is_shown_invalid_at_the_opening(
    bidder_and_credential: tuple[Client, Credential],
) -> None:
    client, credential = bidder_and_credential
    first = sealed_bid(tender=tender_open_for_bids(), service_no=credential.service_no, content=b"first")
    second = sealed_bid(
        tender=tender_open_for_bids(project_no="JDZ-2026-042"), service_no=credential.service_no, content=b"second"
    )
    Bid.objects.filter(pk=second.pk).update(timestamp_token=bytes(first.timestamp_token))  # a swapped token
    opened = _open(client, second)
    assert opened.signature_valid is True and opened.timestamp_valid is False
    assert "不是针对该投标文件签名" in opened.timestamp_message
    assert 'data-timestamp="invalid"' in _page(client, opened)


def test_a_changed_token_is_shown_invalid_at_the_opening(bidder_and_credential: tuple[Client, Credential]) -> None:
    client, credential = bidder_and_credential
    bid = sealed_bid(tender=tender_open_for_bids(), service_no=credential.service_no, content=b"changed")
    token = bytearray(bid.timestamp_token)
    token[-10] ^= 0x01  # inside the signature value
    Bid.objects.filter(pk=bid.pk).update(timestamp_token=bytes(token))
    opened = _open(client, bid)
    assert opened.timestamp_valid is False and "校验失败" in opened.timestamp_message


def test_a_bid_from_before_the_tsa_shows_it_has_no_trusted_time(
    bidder_and_credential: tuple[Client, Credential],
) -> None:
    client, credential = bidder_and_credential
    bid = sealed_bid(tender=tender_open_for_bids(), service_no=credential.service_no, content=b"an old bid")
    Bid.objects.filter(pk=bid.pk).update(timestamp_token=b"", timestamped_at=None)  # as bids before issue 17
    assert 'data-timestamp="none"' in _page(client, bid)
    opened = _open(client, bid)
    assert opened.signature_valid is True and opened.timestamp_valid is None
    page = _page(client, opened)
    assert 'data-timestamp="none"' in page and "未取得可信时间戳" in page


def test_a_token_whose_time_is_past_the_deadline_refuses_the_submission_and_changes_nothing_else(
    bidder_and_credential: tuple[Client, Credential], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, credential = bidder_and_credential
    tender = tender_open_for_bids(deadline=timedelta(minutes=10))
    live = sealed_bid(tender=tender, service_no=credential.service_no, content=b"the first, in time")
    bid, _ = announced_bid(tender=tender, service_no=credential.service_no, content=b"the second, stamped late")
    real = ca.timestamp

    def stamped_after_the_deadline(**kwargs: Any) -> bytes:  # the trusted time says: too late
        with clock.frozen(tender.bid_deadline + timedelta(seconds=1)):
            return real(**kwargs)

    monkeypatch.setattr(ca, "timestamp", stamped_after_the_deadline)
    refused = services.bid_ciphertext_received(bid=bid, received=bid.size)
    assert (refused.status, refused.failure_code) == (BidStatus.REFUSED, "deadline_passed")
    assert "可信时间戳" in refused.failure_message and refused.submitted_at is None
    late = tender.bid_deadline + timedelta(seconds=1)
    assert refused.timestamped_at == late.replace(microsecond=late.microsecond // 1000 * 1000)  # the evidence is kept
    live.refresh_from_db()
    assert live.status == BidStatus.SUBMITTED  # the live bid was not withdrawn
    assert not AuditEvent.objects.filter(action="bid.submitted", subject=f"bid:{bid.pk}").exists()
    assert AuditEvent.objects.filter(action="bid.refused", subject=f"bid:{bid.pk}").exists()


def test_with_the_clock_past_the_deadline_the_submission_is_refused(
    bidder_and_credential: tuple[Client, Credential],
) -> None:
    _, credential = bidder_and_credential
    tender = tender_open_for_bids(deadline=timedelta(minutes=10))
    bid, _ = announced_bid(tender=tender, service_no=credential.service_no, content=b"too late")
    with clock.frozen(tender.bid_deadline + timedelta(seconds=5)):
        refused = services.bid_ciphertext_received(bid=bid, received=bid.size)
    assert (refused.status, refused.failure_code) == (BidStatus.REFUSED, "deadline_passed")
    assert refused.submitted_at is None and Bid.objects.filter(status=BidStatus.SUBMITTED).count() == 0
    assert refused.timestamped_at is not None and refused.timestamped_at > tender.bid_deadline


def test_when_the_tsa_cannot_answer_the_bid_is_submitted_without_a_token_and_says_so(
    bidder_and_credential: tuple[Client, Credential], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, credential = bidder_and_credential

    def down(**kwargs: Any) -> bytes:
        raise ca.KeyBackendError("token not present")

    monkeypatch.setattr(ca, "timestamp", down)
    bid = sealed_bid(tender=tender_open_for_bids(), service_no=credential.service_no, content=b"no TSA today")
    assert bid.status == BidStatus.SUBMITTED and bytes(bid.timestamp_token) == b"" and bid.timestamped_at is None
    assert 'data-timestamp="none"' in _page(client, bid)
