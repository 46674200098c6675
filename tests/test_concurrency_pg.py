"""Real row locks on PostgreSQL: two threads racing on the same payment (R1.7, §8)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from mobileca.accounts.models import User
from mobileca.audit.services import Actor
from mobileca.cards.models import Card
from mobileca.core.errors import Conflict
from mobileca.orders.models import Order
from mobileca.orders.services import OrderDraft
from mobileca.payments.models import Payment, PaymentEvent
from mobileca.payments.observe import Outcome
from mobileca.payments.services import checkout, remittance_confirm
from tests.races import Holder, in_thread, wait_until_a_backend_waits_for_a_lock
from tests.races import race as _race
from tests.support.audit import log_intact
from tests.support.platform import PRICE, actor_of, make_offline_order, place_order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_finance_confirmations_at_once_pay_once_and_make_one_card(bidder: User, finance: User) -> None:
    order, payment = make_offline_order(bidder)
    results = _race(lambda: remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance))
    refusals = [result for result in results if isinstance(result, Conflict)]
    assert len(results) == 2 and len(refusals) == 1, results
    assert refusals[0].code == "already_confirmed" and Outcome.PAID in results, results
    assert Payment.objects.get(pk=payment.pk).status == "paid"
    assert Order.objects.get(pk=order.pk).status == "paid"
    assert Card.objects.count() == 1
    assert PaymentEvent.objects.filter(payment=payment).count() == 1
    assert log_intact()


def test_double_submitted_checkout_at_once_makes_one_order(bidder: User) -> None:
    def submit() -> Order:
        return checkout(
            draft=OrderDraft(
                user=bidder,
                enterprise=bidder.enterprise,
                product_code="mobile-ca",
                region_code="jiangxi",
                channel="offline",
                expected_amount=PRICE,
                client_token="double",
            ),
            actor=actor_of(bidder),
        )

    results = _race(submit)
    assert all(isinstance(result, Order) for result in results), results
    assert {result.pk for result in results} == {Order.objects.get().pk}  # type: ignore[union-attr]
    assert Payment.objects.count() == 1


@pytest.mark.parametrize("first", ["confirmation", "close"])
def test_a_confirmation_just_before_the_deadline_racing_the_close_pays_or_closes_never_both(
    bidder: User, finance: User, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    # R1.6, §7: finance confirms a remittance one second before its deadline while the close job, one second after
    # it, reaches the same payment. Whoever holds the locks first decides; the other sees the result, never both.
    from mobileca.core.clock import clock
    from mobileca.payments import closing, remittance
    from mobileca.payments.closing import payments_close_expired

    order, payment = make_offline_order(bidder)
    before, after = order.expires_at - timedelta(seconds=1), order.expires_at + timedelta(seconds=1)
    results: dict[str, object] = {}

    def confirm() -> object:
        return remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)

    def close() -> object:
        return payments_close_expired(actor=Actor("system", "auto-close"))

    if first == "confirmation":
        # the confirmation has read the time and checked the payment, and holds its locks
        holder = Holder(remittance.remittance_confirm_refusal)
        monkeypatch.setattr(remittance, "remittance_confirm_refusal", holder)
        clock.set(before)
        threads = [in_thread(confirm, results, "confirm")]
        assert holder.holding.wait(timeout=30)
        clock.set(after)
        threads.append(in_thread(close, results, "close"))
    else:
        # the close job holds the locks; the confirmation, made before the deadline, waits for them
        holder = Holder(closing.lock_payment_with_order)
        monkeypatch.setattr(closing, "lock_payment_with_order", holder)
        clock.set(after)
        threads = [in_thread(close, results, "close")]
        assert holder.holding.wait(timeout=30)
        clock.set(before)
        threads.append(in_thread(confirm, results, "confirm"))
    wait_until_a_backend_waits_for_a_lock()
    holder.release.set()
    for thread in threads:
        thread.join(timeout=30)

    order.refresh_from_db()
    payment.refresh_from_db()
    events = list(PaymentEvent.objects.filter(payment=payment).order_by("pk").values_list("event_key", "outcome"))
    if first == "confirmation":
        assert results == {"confirm": Outcome.PAID, "close": 0}
        assert (order.status, payment.status, Card.objects.count()) == ("paid", "paid", 1)
        assert events == [(f"confirm:{payment.out_trade_no}", "paid"), (f"close:{payment.out_trade_no}", "noop")]
    else:
        refusal = results["confirm"]
        assert results["close"] == 1 and isinstance(refusal, Conflict) and refusal.code == "order_closed", results
        assert (order.status, payment.status, Card.objects.count()) == ("closed", "closed", 0)
        assert events == [(f"close:{payment.out_trade_no}", "closed")]
    assert log_intact()


def _statement(*rows: tuple[str, str, str]) -> bytes:
    lines = ["交易流水号,交易时间,金额,付款人户名,付款人账号,附言"]
    lines += [f"{txn},2026-11-28 10:00:00,{amount},测试企业,6222000000000001,{memo}" for txn, amount, memo in rows]
    return "\n".join(lines).encode()


def test_two_imports_of_the_same_statement_at_once_pay_once(bidder: User, finance: User) -> None:
    from mobileca.payments.models import StatementLine
    from mobileca.payments.services import statement_import

    _order, payment = make_offline_order(bidder)
    raw = _statement(("TXN-1", "300.00", f"CA费 {payment.memo_code}"))
    results = _race(lambda: statement_import(file_name="s.csv", raw=raw, operator=finance, actor=actor_of(finance)))
    # each import reports what it did itself: one stored and matched the line, the other nothing
    assert sorted((result.new, result.matched) for result in results) == [(0, 0), (1, 1)], results  # type: ignore[attr-defined]
    assert StatementLine.objects.count() == 1
    assert Payment.objects.get(pk=payment.pk).status == "paid" and Card.objects.count() == 1
    assert PaymentEvent.objects.filter(payment=payment).count() == 1


def test_two_claims_of_the_same_line_at_once_apply_once(bidder: User, finance: User) -> None:
    from mobileca.payments.models import StatementLine
    from mobileca.payments.services import statement_import, statement_line_claim

    order, payment = make_offline_order(bidder)
    statement_import(
        file_name="s.csv", raw=_statement(("TXN-2", "300.00", "no memo")), operator=finance, actor=actor_of(finance)
    )
    line = StatementLine.objects.get()
    results = _race(lambda: statement_line_claim(line_id=line.pk, reference=order.order_no, actor=actor_of(finance)))
    refusals = [result for result in results if isinstance(result, Conflict)]
    assert len(refusals) == 1 and refusals[0].code == "line_not_unmatched" and "claimed" in results, results
    line.refresh_from_db()
    assert line.status == "claimed" and line.payment_id == payment.pk
    assert Payment.objects.get(pk=payment.pk).status == "paid" and Card.objects.count() == 1


def _alipay_form(payment: Payment, notify_id: str, trade_status: str = "TRADE_SUCCESS") -> dict[str, str]:
    import base64
    from pathlib import Path

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from django.conf import settings

    conf = settings.SANDBOX_ALIPAY
    key = serialization.load_pem_private_key(Path(conf["private_key_path"]).read_bytes(), password=None)
    form = {
        "notify_id": notify_id,
        "app_id": conf["app_id"],
        "seller_id": conf["seller_id"],
        "trade_no": "T2026SAME",
        "out_trade_no": payment.out_trade_no,
        "trade_status": trade_status,
        "total_amount": "300.00",
    }
    message = "&".join(f"{k}={form[k]}" for k in sorted(form)).encode()
    form["sign"] = base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()  # type: ignore[union-attr]
    form["sign_type"] = "RSA2"
    return form


@pytest.mark.parametrize("same_notification", [True, False])
def test_concurrent_alipay_notifications_pay_once(bidder: User, same_notification: bool) -> None:
    # R1.7: the same notification twice at once, or TRADE_SUCCESS and TRADE_FINISHED of one trade at once
    from mobileca.payments.notifications import alipay_notification_receive

    order, payment = place_order(bidder, channel="alipay", token="ali")
    forms = iter(
        [
            _alipay_form(payment, "N1"),
            _alipay_form(
                payment, "N1" if same_notification else "N2", "TRADE_SUCCESS" if same_notification else "TRADE_FINISHED"
            ),
        ]
    )
    lock = threading.Lock()

    def receive() -> object:
        with lock:
            form = next(forms)
        return alipay_notification_receive(form=form, remote_addr="127.0.0.1")

    results = _race(receive)
    assert len(results) == 2 and all(getattr(result, "accepted", False) for result in results), results
    assert Payment.objects.get(pk=payment.pk).status == "paid" and Order.objects.get(pk=order.pk).status == "paid"
    assert Card.objects.count() == 1
    from mobileca.audit.models import AuditEvent

    assert not AuditEvent.objects.filter(action="payment.extra_credit").exists()


def test_two_rekeys_of_one_credential_at_once_leave_exactly_one_valid_pair(ca_backend: str) -> None:
    # R4.2: re-key and revocation of one owner never interleave (the owner's advisory lock, ca.services._lock_owner)
    from datetime import timedelta

    from mobileca.ca.backends.factory import backend
    from mobileca.ca.keys import generate_user_key
    from mobileca.ca.models import IssuedCertificate
    from mobileca.ca.profiles import Subject
    from mobileca.ca.services import ca_init, credential_issue, credential_rekey, crl_latest
    from mobileca.core.clock import now

    ca_init(key_backend=backend())
    subject = Subject(enterprise_name="测试企业", uscc="91360200MA35A1B20J", claimant_name="张三")
    credential_issue(
        owner_id="cred-race",
        subject=subject,
        sign_public_key=generate_user_key().public_key(),
        encrypt_public_key=generate_user_key().public_key(),
        valid_days=30,
    )

    def rekey() -> object:
        return credential_rekey(
            owner_id="cred-race",
            subject=subject,
            sign_public_key=generate_user_key().public_key(),
            encrypt_public_key=generate_user_key().public_key(),
            not_after=now() + timedelta(days=60),
        )

    results = _race(rekey)
    assert len(results) == 2 and not [result for result in results if isinstance(result, Exception)], results
    statuses = list(IssuedCertificate.objects.filter(owner_id="cred-race").values_list("usage", "status"))
    assert sorted(status for usage, status in statuses if status == "good") == ["good", "good"]
    assert {usage for usage, status in statuses if status == "good"} == {"sign", "encrypt"}
    assert len(statuses) == 6
    from cryptography import x509

    assert len(x509.load_der_x509_crl(bytes(crl_latest("issuing").der))) == 4


def test_two_people_claiming_the_same_qr_code_at_once_make_exactly_one_binding(bidder: User, finance: User) -> None:
    # R2.4, R3.1: a QR code can be used by one claimant only
    from mobileca.core.errors import PermissionDenied
    from mobileca.shield.claims import claim_bind, claim_open
    from mobileca.shield.models import ClaimSession

    claim = claim_open(
        card_ref="20261128000000001", platform="p", enterprise_name="e", enterprise_uscc="91360200MA35A1B20J"
    )
    accounts = iter(["2088000000000001", "2088000000000002"])
    lock = threading.Lock()

    def scan() -> object:
        with lock:
            account = next(accounts)
        return claim_bind(ticket=claim.ticket, account=account)

    results = _race(scan)
    refusals = [result for result in results if isinstance(result, PermissionDenied)]
    assert len(results) == 2 and len(refusals) == 1, results
    bound = ClaimSession.objects.get()
    assert bound.status == "bound" and bound.claimant_account in {"2088000000000001", "2088000000000002"}


def test_parallel_sms_sends_respect_the_one_a_minute_limit(bidder: User, finance: User) -> None:
    # §7: at most 1 send a minute per phone, even when requests race
    from mobileca.ca.services import ca_init
    from mobileca.sandboxes.registry.models import RegisteredEnterprise
    from mobileca.shield.models import ClaimSession, ClaimStep, PhoneAccount, ShieldEnterprise, SmsChallenge
    from mobileca.shield.otp import sms_code_send
    from mobileca.shield.sealing import resident_id_digest

    ca_init()
    uscc = bidder.enterprise.uscc
    RegisteredEnterprise.objects.create(
        uscc=uscc,
        name="测试",
        legal_representative="王建国",
        legal_representative_id="360202197001010014",
        legal_representative_phone="13907980001",
    )
    ShieldEnterprise.objects.create(
        uscc=uscc,
        name="测试",
        legal_representative="王建国",
        legal_representative_id_digest=resident_id_digest("360202197001010014"),
        created_by_account="a",
        created_at=now_(),
    )
    PhoneAccount.objects.create(
        account="2088102000000001",
        name="王建国",
        resident_id_digest=resident_id_digest("360202197001010014"),
        resident_id_tail="0014",
        phone_tail="0001",
        first_seen_at=now_(),
        last_seen_at=now_(),
    )
    claim = ClaimSession.objects.create(
        card_ref="C",
        platform="p",
        enterprise_name="测试",
        enterprise_uscc=uscc,
        ticket="T",
        ticket_expires_at=now_(),
        status="bound",
        claimant_account="2088102000000001",
        step=ClaimStep.ENTERPRISE_VERIFY,
        created_at=now_(),
    )
    results = _race(lambda: sms_code_send(ticket=claim.ticket, account="2088102000000001", phone="13907980001"))
    assert len(results) == 2 and sum(isinstance(result, Conflict) for result in results) == 1, results
    assert SmsChallenge.objects.count() == 1


def now_():
    from mobileca.core.clock import now

    return now()


def _verification_claim(uscc: str, account: str, name: str, card_ref: str):  # type: ignore[no-untyped-def]
    from mobileca.shield.models import ClaimSession, ClaimStep, PhoneAccount
    from mobileca.shield.sealing import keyed_digest

    PhoneAccount.objects.create(
        account=account,
        name=name,
        resident_id_digest="x",
        resident_id_tail="0000",
        phone_tail=account[-4:],
        phone_digest=keyed_digest(f"139{account[-8:]}"),
        first_seen_at=now_(),
        last_seen_at=now_(),
    )
    return ClaimSession.objects.create(
        card_ref=card_ref,
        platform="p",
        enterprise_name="测试",
        enterprise_uscc=uscc,
        ticket=f"T-{card_ref}",
        ticket_expires_at=now_(),
        status="bound",
        claimant_account=account,
        step=ClaimStep.ENTERPRISE_VERIFY,
        created_at=now_(),
    )


def test_two_claimants_verifying_a_new_enterprise_at_once_make_exactly_one_admin(bidder: User) -> None:
    # R3.9: the first verifier is the admin; the other, verified as well, is a member
    from datetime import timedelta

    from mobileca.shield.models import ForwardTransfer, Membership, ShieldEnterprise
    from mobileca.shield.sealing import keyed_digest
    from mobileca.shield.transfers import forward_transfer_confirm

    uscc = bidder.enterprise.uscc
    ShieldEnterprise.objects.create(
        uscc=uscc, name="测试", legal_representative="x", legal_representative_id_digest="x", created_at=now_()
    )
    claims = [
        _verification_claim(uscc, "2088000000000011", "甲", "C1"),
        _verification_claim(uscc, "2088000000000012", "乙", "C2"),
    ]
    for claim in claims:
        ForwardTransfer.objects.create(
            claim=claim,
            bank_name="b",
            account_name="测试",
            account_no_tail="0000",
            amount_digest=keyed_digest("0.42"),
            created_at=now_(),
            expires_at=now_() + timedelta(days=7),
        )
    queue = list(claims)
    lock = threading.Lock()

    def confirm() -> object:
        with lock:
            claim = queue.pop()
        return forward_transfer_confirm(ticket=claim.ticket, account=claim.claimant_account, amount="0.42")

    results = _race(confirm)
    assert not [result for result in results if isinstance(result, Exception)], results
    enterprise = ShieldEnterprise.objects.get()
    roles = dict(Membership.objects.filter(status="active").values_list("account", "role"))
    assert sorted(roles.values()) == ["admin", "member"] and roles[enterprise.admin_account] == "admin"


def test_approve_and_reject_of_one_request_at_once_decide_it_once(bidder: User) -> None:
    from mobileca.core.errors import ApplicationError
    from mobileca.shield.members import membership_approve, membership_reject
    from mobileca.shield.models import ClaimStep, Membership, ShieldEnterprise

    uscc = bidder.enterprise.uscc
    enterprise = ShieldEnterprise.objects.create(
        uscc=uscc,
        name="测试",
        legal_representative="x",
        legal_representative_id_digest="x",
        created_at=now_(),
        verified_at=now_(),
        admin_account="2088000000000011",
    )
    claim = _verification_claim(uscc, "2088000000000012", "乙", "C2")
    claim.step = ClaimStep.APPROVAL
    claim.save()
    request = Membership.objects.create(
        enterprise=enterprise, account="2088000000000012", name="乙", status="requested", claim=claim, created_at=now_()
    )
    decisions = iter(
        [
            lambda: membership_approve(admin_account="2088000000000011", membership_id=request.pk),
            lambda: membership_reject(admin_account="2088000000000011", membership_id=request.pk, reason="否"),
        ]
    )
    lock = threading.Lock()

    def decide() -> object:
        with lock:
            action = next(decisions)
        return action()

    results = _race(decide)
    assert sum(isinstance(result, ApplicationError) for result in results) == 1, results
    request.refresh_from_db()
    assert request.status in {"active", "rejected"}
    claim.refresh_from_db()
    assert claim.step == (ClaimStep.PIN if request.status == "active" else ClaimStep.APPROVAL)


def test_two_statement_readers_at_once_judge_each_credit_once(bidder: User) -> None:
    # 反向打款: the periodic job may overlap itself; a credit verifies once and is recorded once
    from datetime import timedelta
    from decimal import Decimal

    from mobileca.ca.services import ca_init
    from mobileca.sandboxes.bank.models import Account, Transfer
    from mobileca.shield.models import ReverseTransfer, ShieldEnterprise, TransferCredit
    from mobileca.shield.sealing import keyed_digest
    from mobileca.shield.transfers import reverse_transfers_reconcile

    ca_init()
    uscc = bidder.enterprise.uscc
    ShieldEnterprise.objects.create(
        uscc=uscc, name="测试", legal_representative="x", legal_representative_id_digest="x", created_at=now_()
    )
    claim = _verification_claim(uscc, "2088000000000011", "甲", "C1")
    sub = Account.objects.create(
        number="9550880200000001000000001", bank_name="b", holder_name="e签盾认证收款专户", parent="9550880200000001000"
    )
    ReverseTransfer.objects.create(
        claim=claim,
        payer_bank_name="b",
        payer_account_name="测试",
        payer_account_digest=keyed_digest("6222000011112222333"),
        payer_account_tail="2333",
        to_account=sub.number,
        to_account_name=sub.holder_name,
        amount=Decimal("0.01"),
        memo="RZABCDEFGH",
        voucher_uploaded_at=now_(),
        created_at=now_(),
        expires_at=now_() + timedelta(days=7),
    )
    Transfer.objects.create(
        from_number="6222000011112222333",
        from_name="测试",
        to_number=sub.number,
        to_name=sub.holder_name,
        to_parent="9550880200000001000",
        amount=Decimal("0.01"),
        memo="RZABCDEFGH",
        booked_at=now_(),
    )
    results = _race(reverse_transfers_reconcile)
    assert not [result for result in results if isinstance(result, Exception)], results
    assert TransferCredit.objects.count() == 1
    assert ReverseTransfer.objects.get().status == "verified"
    assert sum(result.get("matched", 0) for result in results if isinstance(result, dict)) == 1
