"""正向打款 limits (R3.6, §7, issue 14): per claim and per enterprise (its USCC, whatever card or claim), what is
counted and what is not, and that a refused start or entry changes nothing stored and pays nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.cards.models import Card
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, Conflict, InvalidInput, RetryableGatewayError
from mobileca.payments.services import remittance_confirm
from mobileca.sandboxes.bank.models import Account, Transfer
from mobileca.shield import bank
from mobileca.shield.models import ClaimSession, ForwardTransfer, ShieldEnterprise
from mobileca.shield.transfers import FORWARD_TRANSFER_PER_ENTERPRISE, forward_transfer_confirm, forward_transfer_start
from tests.support.platform import actor_of, make_offline_order
from tests.support.shield import (  # noqa: F401 (fixtures)
    ca_ready,
    card,
    claim_past_face,
    corporate_account,
    paid_card,
    register_enterprise,
    registered,
)

EMPLOYEE, OTHER = "2088102000000003", "2088102000000005"  # 张小工, 陈立新: not the legal representative


def _start(claim: ClaimSession, number: str, **changes: str) -> ForwardTransfer:
    fields = {
        "bank_name": "中国工商银行",
        "account_name": ShieldEnterprise.objects.get(uscc=claim.enterprise_uscc).name,
        "account_no": number,
    }
    return forward_transfer_start(ticket=claim.ticket, account=claim.claimant_account, **{**fields, **changes})


def _confirm(claim: ClaimSession, amount: str) -> ClaimSession:
    return forward_transfer_confirm(ticket=claim.ticket, account=claim.claimant_account, amount=amount)


def _received(number: str) -> str:
    return f"{Transfer.objects.filter(to_number=number).latest('pk').amount:.2f}"


def _wrong(number: str) -> str:
    return "0.01" if _received(number) != "0.01" else "0.02"


def _stored() -> list[object]:
    """What a refusal must leave as it was: the transfers, the bank's payments, the claims, the audit trail."""
    return [
        list(ForwardTransfer.objects.order_by("pk").values_list()),
        list(Transfer.objects.order_by("pk").values_list()),
        list(ClaimSession.objects.order_by("pk").values_list()),
        list(ShieldEnterprise.objects.order_by("pk").values_list()),
        AuditEvent.objects.count(),
    ]


def _refused(call: object, code: str) -> ApplicationError:
    before = _stored()
    with pytest.raises(ApplicationError) as refused:
        call()  # type: ignore[operator]
    assert refused.value.code == code, refused.value
    assert _stored() == before
    return refused.value


@pytest.fixture
def verifying(registered: Card, corporate_account: str, ca_ready: None) -> ClaimSession:
    """An employee's claim at 企业认证 (the enterprise is new: no one has verified it)."""
    claim = claim_past_face(registered, EMPLOYEE)
    assert claim.step == "enterprise_verify"
    return claim


@pytest.fixture
def second_verifying(verifying: ClaimSession, bidder: User, finance: User) -> ClaimSession:
    """Another card of the same enterprise, claimed by someone else, at 企业认证 too."""
    claim = claim_past_face(paid_card(bidder, finance, "tok-2"), OTHER)
    assert (claim.step, claim.enterprise_uscc) == ("enterprise_verify", verifying.enterprise_uscc)
    return claim


@pytest.fixture
def other_enterprise_verifying(other_bidder: User, finance: User, ca_ready: None) -> ClaimSession:
    """A claim of another enterprise at 企业认证, with its own corporate account at the bank."""
    _order, payment = make_offline_order(other_bidder, token="tok-other")
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    other_card = Card.objects.get(enterprise=other_bidder.enterprise)
    register_enterprise(other_card)
    Account.objects.create(number="6222000099998888777", bank_name="中国银行", holder_name=other_card.enterprise.name)
    claim = claim_past_face(other_card, EMPLOYEE)
    assert claim.step == "enterprise_verify"
    return claim


def test_the_per_enterprise_defaults_keep_guessing_at_three_in_ninety_nine() -> None:
    # issue 14: 3 wrong entries in 30 days of 99 possible amounts: at most 3/99 ≈ 3 % for a guesser
    assert FORWARD_TRANSFER_PER_ENTERPRISE == {"window_days": 30, "max_transfers": 3, "max_wrong": 3}
    assert Decimal(FORWARD_TRANSFER_PER_ENTERPRISE["max_wrong"]) / 99 < Decimal("0.031")


def test_a_claim_gets_three_transfers_in_a_row_then_is_refused_and_nothing_is_paid(
    verifying: ClaimSession, corporate_account: str
) -> None:
    # R3.6 §7, issue 14 (the sequential cap; the concurrent one is tests/test_transfer_races_pg.py)
    for _ in range(3):
        _start(verifying, corporate_account)
    _refused(lambda: _start(verifying, corporate_account), "transfer_limit")
    assert Transfer.objects.filter(to_number=corporate_account).count() == 3
    # each new transfer replaced the one before: one waits for its amount
    assert sorted(ForwardTransfer.objects.values_list("status", flat=True)) == ["failed", "failed", "pending"]


def test_wrong_entries_are_capped_per_enterprise_across_its_cards_and_claims(
    verifying: ClaimSession, second_verifying: ClaimSession, corporate_account: str
) -> None:
    # issue 14: a new card (a new claim) does not renew the guesses
    _start(verifying, corporate_account)
    first_amount = _received(corporate_account)
    for _ in range(2):
        with pytest.raises(InvalidInput) as wrong:
            _confirm(verifying, _wrong(corporate_account))
        assert wrong.value.code == "transfer_wrong_amount"
    _start(second_verifying, corporate_account)
    with pytest.raises(Conflict) as third:
        _confirm(second_verifying, _wrong(corporate_account))
    assert third.value.code == "transfer_guesses_exhausted" and "30 天" in third.value.message
    assert ForwardTransfer.objects.get(claim=second_verifying).status == "failed"

    # then: the first claim's transfer, still pending, compares nothing, even the right amount ...
    _refused(lambda: _confirm(verifying, first_amount), "transfer_guesses_exhausted")
    # ... and neither claim gets a new transfer (nor is anything paid) while the window lasts
    _refused(lambda: _start(verifying, corporate_account), "transfer_guesses_exhausted")
    _refused(lambda: _start(second_verifying, corporate_account), "transfer_guesses_exhausted")
    assert ShieldEnterprise.objects.get().verified_at is None
    assert sum(ForwardTransfer.objects.values_list("wrong_entries", flat=True)) == 3

    # 30 days later the enterprise may try again
    ForwardTransfer.objects.update(created_at=now() - timedelta(days=31))
    _start(verifying, corporate_account)
    _confirm(verifying, _received(corporate_account))
    assert ShieldEnterprise.objects.get().admin_account == EMPLOYEE


def test_transfers_are_capped_per_enterprise_across_its_cards_and_claims(
    verifying: ClaimSession, second_verifying: ClaimSession, corporate_account: str
) -> None:
    # issue 14: 3 payments into one enterprise's account in 30 days, whichever claim asks
    _start(verifying, corporate_account)
    _start(verifying, corporate_account)
    _start(second_verifying, corporate_account)
    refused = _refused(lambda: _start(second_verifying, corporate_account), "transfer_enterprise_limit")
    assert refused.status == 409 and "30 天" in refused.message
    assert Transfer.objects.count() == ForwardTransfer.objects.count() == 3


def test_another_enterprise_is_not_affected(
    verifying: ClaimSession, other_enterprise_verifying: ClaimSession, corporate_account: str
) -> None:
    _start(verifying, corporate_account)
    for _ in range(3):
        with pytest.raises(ApplicationError):
            _confirm(verifying, _wrong(corporate_account))
    _refused(lambda: _start(verifying, corporate_account), "transfer_guesses_exhausted")

    _start(other_enterprise_verifying, "6222000099998888777")
    _confirm(other_enterprise_verifying, _received("6222000099998888777"))
    other = ShieldEnterprise.objects.get(uscc=other_enterprise_verifying.enterprise_uscc)
    assert (other.admin_account, other.verification_method) == (EMPLOYEE, "forward_transfer")


@pytest.mark.parametrize(
    "typed",
    ["{}", "¥{}", "￥ {}", " {} ", "{full}", "¥{full}"],
)
def test_the_amount_is_read_as_a_person_types_it(verifying: ClaimSession, corporate_account: str, typed: str) -> None:
    # issue 14: full-width digits and point (a Chinese input method), a yuan sign, blanks around
    _start(verifying, corporate_account)
    received = _received(corporate_account)
    full = received.translate(str.maketrans("0123456789.", "０１２３４５６７８９．"))
    _confirm(verifying, typed.format(received, full=full))
    assert ShieldEnterprise.objects.get().verification_method == "forward_transfer"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "abc",
        "1E+999999999",  # an exponent: no amount (and no costly formatting)
        "9" * 5000,  # huge
        "1e-2",
        "-0.42",
        "+0.42",
        "0x1",
        "٠.٤٢",  # Arabic-Indic digits
        "0.42\x00",
        "0.421",
        ".42",
        "0",
        "0.00",
        "1.00",  # more than the service ever pays
        "12",
        "１２",
        "NaN",
        "Infinity",
    ],
)
def test_what_is_no_amount_the_service_pays_is_refused_clearly_and_not_counted(
    verifying: ClaimSession, corporate_account: str, typed: str
) -> None:
    # issue 14: garbage (or an amount outside ¥0.01–0.99) is no guess: a clear message, no wrong entry, no 500
    _start(verifying, corporate_account)
    refused = _refused(lambda: _confirm(verifying, typed), "transfer_bad_amount")
    assert refused.status == 400 and "0.01 至 0.99" in refused.message
    assert ForwardTransfer.objects.get().wrong_entries == 0


def test_an_account_the_bank_refuses_pays_nothing_and_is_not_counted(verifying: ClaimSession) -> None:
    # the bank says there is no such account: the transfer, counted before the bank call, is taken back
    for _ in range(4):
        with pytest.raises(InvalidInput) as refused:
            _start(verifying, "6222000000000000000")
        assert refused.value.code == "bank_refused"
    assert not ForwardTransfer.objects.exists() and not Transfer.objects.exists()


def test_a_bank_that_fails_mid_payment_leaves_the_transfer_failed_and_counted(
    verifying: ClaimSession, corporate_account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a timeout may have paid: it stays counted, so failures cannot be used to pass the caps
    real_pay = bank.pay

    def times_out(**_kwargs: object) -> None:
        raise RetryableGatewayError("bank timed out")

    monkeypatch.setattr(bank, "pay", times_out)
    with pytest.raises(RetryableGatewayError):
        _start(verifying, corporate_account)
    assert list(ForwardTransfer.objects.values_list("status", flat=True)) == ["failed"]
    monkeypatch.setattr(bank, "pay", real_pay)
    _start(verifying, corporate_account)
    _start(verifying, corporate_account)
    _refused(lambda: _start(verifying, corporate_account), "transfer_limit")


@pytest.mark.parametrize("bank_name", ["工行\x00", "工\n行", "工\u202e行", "银" * 101, "  ", "\x00"])
def test_a_bank_name_with_control_characters_or_too_long_is_refused(
    verifying: ClaimSession, corporate_account: str, bank_name: str
) -> None:
    # issue 14: NUL (a 500 on PostgreSQL), control and direction characters, more than the column holds
    refused = _refused(lambda: _start(verifying, corporate_account, bank_name=bank_name), "bad_account")
    assert refused.status == 400


def test_a_starting_transfer_cannot_be_confirmed_until_the_bank_has_paid(
    verifying: ClaimSession, corporate_account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the row is written (sending) before the bank call: the amount it names cannot be entered before it is paid
    seen: list[str] = []
    real_pay = bank.pay

    def pay_and_look(**kwargs: object) -> None:
        seen.append(ForwardTransfer.objects.get().status)
        with pytest.raises(Conflict) as early:
            _confirm(verifying, f"{kwargs['amount']:.2f}")
        assert early.value.code == "transfer_missing"
        real_pay(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bank, "pay", pay_and_look)
    _start(verifying, corporate_account)
    assert seen == ["sending"] and ForwardTransfer.objects.get().status == "pending"
