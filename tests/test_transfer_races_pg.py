"""正向打款 under concurrency on PostgreSQL (issue 14): the caps are counted under the enterprise's and the claim's row
locks before the bank is asked to pay, so six starts at once cannot make more transfers, nor more payments, than the
caps allow."""

from __future__ import annotations

import itertools
import threading

import pytest

from mobileca.accounts.models import User
from mobileca.ca.services import ca_init
from mobileca.cards.models import Card
from mobileca.core.errors import ApplicationError
from mobileca.sandboxes.bank.models import Account, Transfer
from mobileca.shield.models import ClaimSession, ForwardTransfer
from mobileca.shield.transfers import forward_transfer_start
from tests.races import race
from tests.support.audit import log_intact
from tests.support.shield import claim_past_face, paid_card, register_enterprise

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NUMBER = "6222000011112222333"


def _verifying(card: Card, account: str) -> ClaimSession:
    claim = claim_past_face(card, account)
    assert claim.step == "enterprise_verify"
    return claim


def _start(claim: ClaimSession) -> ForwardTransfer:
    return forward_transfer_start(
        ticket=claim.ticket,
        account=claim.claimant_account,
        bank_name="中国工商银行",
        account_name=claim.enterprise_name,
        account_no=NUMBER,
    )


def _outcomes(results: list[object]) -> tuple[list[ForwardTransfer], list[str]]:
    made = [result for result in results if isinstance(result, ForwardTransfer)]
    refused = [result.code for result in results if isinstance(result, ApplicationError)]
    assert len(made) + len(refused) == len(results), results  # no deadlock, no internal error
    return made, refused


@pytest.fixture
def first_card(bidder: User, finance: User) -> Card:
    ca_init()
    card = paid_card(bidder, finance, "tok-1")
    register_enterprise(card)
    Account.objects.create(number=NUMBER, bank_name="中国工商银行", holder_name=card.enterprise.name)
    return card


def test_six_concurrent_starts_of_one_claim_make_three_transfers_and_three_payments(first_card: Card) -> None:
    # issue 14: six `transfer/start` at once made six transfers and six payments, past the cap of 3 per claim
    claim = _verifying(first_card, "2088102000000003")

    made, refused = _outcomes(race(lambda: _start(claim), threads=6))

    assert (len(made), refused) == (3, ["transfer_limit"] * 3)
    assert ForwardTransfer.objects.filter(claim=claim).count() == 3
    assert Transfer.objects.filter(to_number=NUMBER).count() == 3  # what the bank paid
    assert sorted(ForwardTransfer.objects.values_list("status", flat=True)) == ["failed", "failed", "pending"]
    assert log_intact()


def test_six_concurrent_starts_from_two_claims_of_one_enterprise_make_three_payments(
    first_card: Card, bidder: User, finance: User
) -> None:
    # issue 14: the per-enterprise cap is counted under the enterprise's row lock, whichever claim asks
    claims = [
        _verifying(first_card, "2088102000000003"),
        _verifying(paid_card(bidder, finance, "tok-2"), "2088102000000005"),
    ]
    turns, lock = itertools.cycle(claims), threading.Lock()

    def start() -> ForwardTransfer:
        with lock:
            claim = next(turns)
        return _start(claim)

    made, refused = _outcomes(race(start, threads=6))

    assert (len(made), refused) == (3, ["transfer_enterprise_limit"] * 3)
    assert ForwardTransfer.objects.count() == 3 and Transfer.objects.filter(to_number=NUMBER).count() == 3
    assert log_intact()
