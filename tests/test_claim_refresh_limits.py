"""Claim-QR refreshes are limited per card (issue 14): each renewal of the ticket is an audit event, so past the rate
the signing service refuses with a clear message and the current ticket stays as it was."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from mobileca.audit.models import AuditEvent
from mobileca.cards.models import Card
from mobileca.core.clock import clock
from mobileca.core.errors import TooMany
from mobileca.core.ids import BEIJING
from mobileca.shield import facade
from mobileca.shield.claims import CLAIM_REFRESH_RATES, claim_refresh
from mobileca.shield.models import ClaimSession
from tests.support.shield import card  # noqa: F401 (fixture)

AT = datetime(2026, 12, 3, 10, 0, 5, tzinfo=BEIJING)  # just after the hour began: the hour's window lasts the test


def _open(card: Card) -> None:
    facade.claim_open(card_ref=card.cert_id, enterprise_name=card.enterprise.name, enterprise_uscc=card.enterprise.uscc)


def _stored() -> list[object]:
    return [list(ClaimSession.objects.values_list()), AuditEvent.objects.count()]


def test_refreshes_past_ten_an_hour_are_refused_and_the_current_code_stays_valid(card: Card) -> None:
    # issue 14: unbounded, each refresh an audit event
    assert CLAIM_REFRESH_RATES == {"claim_refresh": "10/h", "claim_refresh_daily": "50/d"}
    with clock.frozen(AT):
        _open(card)
        tickets = {ClaimSession.objects.get().ticket}
        for _ in range(10):
            tickets.add(claim_refresh(card_ref=card.cert_id).ticket)
        assert len(tickets) == 11
        assert AuditEvent.objects.filter(action="claim.ticket_renewed").count() == 10

        before = _stored()
        with pytest.raises(TooMany) as refused:
            claim_refresh(card_ref=card.cert_id)
        assert _stored() == before  # the same ticket, still valid, and no event
        assert refused.value.status == 429 and "当前二维码仍在有效期内" in refused.value.message

    # once the ticket has expired, the message says when to come back (still within the hour)
    with clock.frozen(AT + timedelta(minutes=11)), pytest.raises(TooMany) as later:
        claim_refresh(card_ref=card.cert_id)
    assert "分钟后再试" in later.value.message and later.value.retry_after > 0

    # the next hour it may be renewed again
    with clock.frozen(AT + timedelta(hours=1)):
        assert claim_refresh(card_ref=card.cert_id).ticket not in tickets


def test_the_limit_is_per_card(card: Card, bidder: object, finance: object, settings: object) -> None:
    from tests.support.shield import paid_card

    settings.MOBILECA_RATE_LIMITS = {"claim_refresh": "1/h"}  # type: ignore[attr-defined]
    other = paid_card(bidder, finance, "tok-2")  # type: ignore[arg-type]
    with clock.frozen(AT):
        _open(card)
        _open(other)
        claim_refresh(card_ref=card.cert_id)
        with pytest.raises(TooMany):
            claim_refresh(card_ref=card.cert_id)
        claim_refresh(card_ref=other.cert_id)


def test_a_claim_already_scanned_is_not_renewed_nor_counted(card: Card, settings: object) -> None:
    from tests.support.shield import bound_claim, register_enterprise

    settings.MOBILECA_RATE_LIMITS = {"claim_refresh": "0/h"}  # type: ignore[attr-defined]
    register_enterprise(card)
    claim = bound_claim(card, "2088102000000001")
    assert claim_refresh(card_ref=card.cert_id).ticket == claim.ticket


def test_the_card_page_past_the_limit_shows_the_current_code_with_why(card: Card, bidder_client, settings) -> None:
    """「立即申领」 → 刷新 past the rate: the page is the claim page again with the still valid QR code and the reason,
    not an error page, and the ticket is unchanged."""
    settings.MOBILECA_RATE_LIMITS = {"claim_refresh": "0/h"}
    bidder_client.get(f"/ca/cards/{card.cert_id}/claim/")
    ticket = ClaimSession.objects.get().ticket
    page = bidder_client.post(f"/ca/cards/{card.cert_id}/claim/", follow=True)
    assert page.status_code == 200
    assert "当前二维码仍在有效期内" in page.content.decode() and f"/h5/claim/{ticket}/" in page.content.decode()
    assert ClaimSession.objects.get().ticket == ticket
