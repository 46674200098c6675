"""Readiness before the opening (「开标前解密检查」, issue 21, R5.2, R4.2): the ciphertext's size and SHA-256 recorded
at sealing, the checks run by the job worker at sealing and at the lead times, their warnings (SMS and message
centre) for a card expiring before the opening, a damaged ciphertext and a renewal started before the opening, and
no second message for the same problem and lead."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from mobileca.accounts.models import User
from mobileca.bidding import readiness
from mobileca.bidding.models import Bid, ReadinessCheck
from mobileca.bidding.storage import ciphertext_path
from mobileca.cards.models import Card
from mobileca.notices.models import Notice
from mobileca.sandboxes.sms.models import Message
from mobileca.shield.models import Credential
from tests.support.bidding import sealed_bid, tender_open_for_bids
from tests.support.shield import _activated, ca_ready, card, registered  # noqa: F401 (fixtures)


@pytest.fixture
def claimant(bidder_client: Client, registered: Card, ca_ready: None, settings: Any, tmp_path: Any) -> Card:
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    _activated(bidder_client, registered)
    bidder_client.get(f"/ca/cards/{registered.cert_id}/claim/status/")
    registered.refresh_from_db()
    return registered


def _warnings() -> list[str]:
    return list(Notice.objects.filter(kind="bid_readiness").values_list("body", flat=True))


def test_sealing_records_the_ciphertext_and_the_job_worker_checks_it(
    claimant: Card, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    """R5.2 / issue 21: at sealing the ciphertext's size and streamed SHA-256 are kept; the first check runs then
    and, with nothing wrong, sends nothing."""
    with django_capture_on_commit_callbacks(execute=True):
        bid = sealed_bid(tender=tender_open_for_bids(), service_no=claimant.service_no, content=b"whole" * 1000)
    bid.refresh_from_db()
    stored = ciphertext_path(bid).read_bytes()
    assert (bid.ciphertext_bytes, bid.ciphertext_sha256) == (len(stored), hashlib.sha256(stored).hexdigest())
    check = ReadinessCheck.objects.get(bid=bid)
    assert (check.lead, check.outcome, check.problems) == ("sealed", "ok", [])
    assert _warnings() == []


def test_a_card_expiring_before_the_opening_is_warned_once_per_lead(
    bidder_client: Client, claimant: Card, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    """Issue 21: the card not valid at the opening time → SMS and message centre say to renew before the opening;
    a second run of the same lead sends nothing more."""
    bid = sealed_bid(tender=tender_open_for_bids(), service_no=claimant.service_no, content=b"expiring")
    Credential.objects.filter(service_no=claimant.service_no).update(
        expires_at=bid.tender.opening_at - timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        check = readiness.bid_readiness_check(bid_id=bid.pk, lead="1d")
    assert check is not None and (check.outcome, check.problems) == ("problems", ["expires_before_opening"])
    warnings = _warnings()
    assert len(warnings) == 1 and "续期" in warnings[0] and bid.tender.project_no in warnings[0]
    texts = list(Message.objects.values_list("text", flat=True))
    assert len(texts) == 1 and "开标前解密检查" in texts[0]
    with django_capture_on_commit_callbacks(execute=True):
        again = readiness.bid_readiness_check(bid_id=bid.pk, lead="1d")
    assert again is not None and again.pk == check.pk
    assert ReadinessCheck.objects.filter(bid=bid, lead="1d").count() == 1
    assert len(_warnings()) == 1 and Message.objects.count() == 1
    page = bidder_client.get(f"/bidding/bids/{bid.pk}/").content.decode()
    assert 'data-outcome="problems"' in page and "请在开标前办理续期" in page


@pytest.mark.parametrize("damage", ["flipped", "truncated", "missing"])
def test_a_damaged_ciphertext_is_warned(claimant: Card, damage: str) -> None:
    """Issue 21: the stored ciphertext differs from what was recorded at sealing (digest, size, or gone) → re-upload
    before the deadline; the bid itself is left as it was."""
    bid = sealed_bid(tender=tender_open_for_bids(), service_no=claimant.service_no, content=b"x" * 5000)
    path = ciphertext_path(bid)
    data = path.read_bytes()
    if damage == "flipped":
        path.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    elif damage == "truncated":
        path.write_bytes(data[:-1])
    else:
        path.unlink()
    check = readiness.bid_readiness_check(bid_id=bid.pk, lead="3d")
    assert check is not None and check.problems == ["ciphertext_damaged"]
    assert "重新上传" in _warnings()[0]
    assert Bid.objects.get(pk=bid.pk).status == "submitted"


def test_an_intact_bid_has_no_problems(claimant: Card) -> None:
    """Issue 21: the negative path — nothing wrong, the check is kept as ok and nothing is sent."""
    bid = sealed_bid(tender=tender_open_for_bids(), service_no=claimant.service_no, content=b"fine")
    check = readiness.bid_readiness_check(bid_id=bid.pk, lead="3d")
    assert check is not None and (check.outcome, check.problems) == ("ok", [])
    assert _warnings() == [] and Message.objects.count() == 0


def test_a_split_key_cards_renewal_started_before_the_opening_is_warned(
    bidder_client: Client, claimant: Card, finance: User
) -> None:
    """Issue 21 / R4.2: a two-party (split-key) card's renewal archives the old encryption share, but the phone's
    half of it stays only in the browser that made it, so a renewal in progress before the opening ties the bid to
    that browser → the bidder is told to open with that phone and keep its data."""
    from mobileca.shield.models import Credential
    from tests.support.shield import _pay, _renew, _renewal_ticket

    Credential.objects.filter(service_no=claimant.service_no).update(key_custody="split")
    bid = sealed_bid(tender=tender_open_for_bids(), service_no=claimant.service_no, content=b"renewing")
    _pay(_renew(bidder_client, claimant), finance)
    _renewal_ticket(bidder_client, claimant)
    check = readiness.bid_readiness_check(bid_id=bid.pk, lead="3d")
    assert check is not None and check.problems == ["renewal_pending"]
    assert "须在保存原密钥的手机浏览器上授权解密" in _warnings()[0] and "不要清除其浏览器数据" in _warnings()[0]


def test_a_renewal_started_before_the_opening_of_a_service_held_key_is_no_problem(
    bidder_client: Client, claimant: Card, finance: User
) -> None:
    """Issue 21: the renewal of a card whose keys the service holds archives the encryption key, so the bid stays
    readable: the check is ok and nothing is sent."""
    from tests.support.shield import _pay, _renew, _renewal_ticket

    bid = sealed_bid(tender=tender_open_for_bids(), service_no=claimant.service_no, content=b"renewing")
    _pay(_renew(bidder_client, claimant), finance)
    _renewal_ticket(bidder_client, claimant)
    check = readiness.bid_readiness_check(bid_id=bid.pk, lead="3d")
    assert check is not None and (check.outcome, check.problems) == ("ok", [])
    assert _warnings() == []


def test_the_job_runs_the_nearest_lead_once(claimant: Card, settings: Any) -> None:
    """R5.2 / issue 21: MOBILECA_READINESS_LEAD_DAYS — the worker runs the check at sealing if it was missed (inside
    the 3-day lead it stands for that lead too), then once a day before the opening the 1-day check, and a second
    run of the job adds nothing."""
    from mobileca.core.clock import clock

    settings.MOBILECA_READINESS_LEAD_DAYS = "3,1"
    assert readiness.lead_days() == [3, 1]
    bid = sealed_bid(tender=tender_open_for_bids(), service_no=claimant.service_no, content=b"due")
    assert readiness.readiness_checks_due() == 1
    assert list(ReadinessCheck.objects.filter(bid=bid).values_list("lead", flat=True)) == ["sealed"]
    assert readiness.readiness_checks_due() == 0
    clock.set(bid.tender.opening_at - timedelta(days=1) + timedelta(minutes=1))
    assert readiness.readiness_checks_due() == 1
    assert readiness.readiness_checks_due() == 0
    assert sorted(ReadinessCheck.objects.filter(bid=bid).values_list("lead", flat=True)) == ["1d", "sealed"]


def test_the_job_runs_a_lead_for_a_bid_sealed_before_it(claimant: Card, settings: Any) -> None:
    """Issue 21: a bid sealed a week before the opening is checked at sealing and again at 3 days and 1 day."""
    from mobileca.core.clock import clock

    settings.MOBILECA_READINESS_LEAD_DAYS = "3,1"
    bid = sealed_bid(
        tender=tender_open_for_bids(deadline=timedelta(days=7)), service_no=claimant.service_no, content=b"early"
    )
    assert readiness.readiness_checks_due() == 1  # the check at sealing only: no lead time yet
    clock.set(bid.tender.opening_at - timedelta(days=3) + timedelta(minutes=1))
    assert readiness.readiness_checks_due() == 1
    clock.set(bid.tender.opening_at - timedelta(days=1) + timedelta(minutes=1))
    assert readiness.readiness_checks_due() == 1
    assert readiness.readiness_checks_due() == 0
    assert sorted(ReadinessCheck.objects.filter(bid=bid).values_list("lead", flat=True)) == ["1d", "3d", "sealed"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_checking_the_same_lead_warn_once(claimant: Card) -> None:
    """Issue 21: two job workers run the same lead's check at the same instant; the bid's row lock (and the unique
    constraint behind it) leave one check and one message."""
    from tests.races import race

    bid = sealed_bid(tender=tender_open_for_bids(), service_no=claimant.service_no, content=b"raced")
    Credential.objects.filter(service_no=claimant.service_no).update(
        expires_at=bid.tender.opening_at - timedelta(hours=1)
    )
    results = race(lambda: readiness.bid_readiness_check(bid_id=bid.pk, lead="1d"), threads=4)
    assert all(isinstance(result, ReadinessCheck) for result in results), results
    assert len({result.pk for result in results if isinstance(result, ReadinessCheck)}) == 1
    assert ReadinessCheck.objects.filter(bid=bid, lead="1d").count() == 1
    assert len(_warnings()) == 1 and Message.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_bid_row_is_not_locked_while_its_ciphertext_is_hashed(
    claimant: Card, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 21: the stored ciphertext may be gigabytes; it is read before the bid's row lock, so the opening (which
    locks the bid) never waits for a readiness check. While the file is being hashed, another connection takes the
    bid's row lock at once (NOWAIT), and the check still records the damage it found."""
    import threading

    from django.db import connection, transaction

    bid = sealed_bid(tender=tender_open_for_bids(), service_no=claimant.service_no, content=b"hashed unlocked")
    path = ciphertext_path(bid)
    path.write_bytes(path.read_bytes()[:-1] + b"\\0")  # damaged: the check must still say so
    hashing = readiness.file_digest
    seen: list[str] = []

    def lock_elsewhere() -> None:
        try:
            with transaction.atomic():
                Bid.objects.select_for_update(nowait=True).get(pk=bid.pk)
            seen.append("locked")
        except Exception as exc:  # noqa: BLE001 (the database's lock-not-available error, whatever its class)
            seen.append(type(exc).__name__)
        finally:
            connection.close()

    def digest_while_another_locks(target: Any) -> tuple[int, str]:
        other = threading.Thread(target=lock_elsewhere)
        other.start()
        other.join()
        return hashing(target)

    monkeypatch.setattr(readiness, "file_digest", digest_while_another_locks)
    check = readiness.bid_readiness_check(bid_id=bid.pk, lead="3d")  # the check at sealing has run already
    assert seen == ["locked"]
    assert check is not None and check.problems == ["ciphertext_damaged"]
