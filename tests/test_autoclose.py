"""Unpaid offline remittance orders close after 7 days; money that arrives afterwards is kept for refund
(R1.6, R1.7, §7, §8)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from huey.contrib.djhuey import HUEY

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.audit.services import Actor
from mobileca.cards.models import Card
from mobileca.core.clock import clock
from mobileca.core.errors import Conflict
from mobileca.core.ids import BEIJING
from mobileca.orders.models import Order
from mobileca.payments.models import LineStatus, Payment, PaymentEvent, RemittanceVoucher, StatementLine
from mobileca.payments.services import (
    payments_close_expired,
    remittance_confirm,
    remittance_voucher_upload,
    statement_import,
)
from mobileca.payments.tasks import close_expired_orders
from tests.support.audit import log_intact
from tests.support.platform import actor_of, make_offline_order

T0 = datetime(2025, 5, 22, 9, 0, tzinfo=BEIJING)
SEVEN_DAYS = timedelta(days=7)
AUTO_CLOSE = Actor("system", "auto-close")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def close_expired() -> int:
    return payments_close_expired(actor=AUTO_CLOSE)


def state(order: Order, payment: Payment) -> tuple[object, ...]:
    order.refresh_from_db()
    payment.refresh_from_db()
    return (
        order.status,
        order.paid_at,
        order.closed_at,
        order.card_id,
        payment.status,
        payment.paid_at,
        payment.closed_at,
        Card.objects.count(),
        PaymentEvent.objects.count(),
        AuditEvent.objects.count(),
        RemittanceVoucher.objects.count(),
    )


def audit_after(seq: int) -> list[tuple[str, str, str]]:
    return list(AuditEvent.objects.filter(pk__gt=seq).order_by("pk").values_list("action", "subject", "actor"))


def last_audit_seq() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def statement_with(txn: str, booked: str, amount: str, memo: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(("交易流水号", "交易时间", "金额", "付款人户名", "付款人账号", "附言"))
    writer.writerow((txn, booked, amount, "景德镇测试企业有限公司", "6222020200112233445", memo))
    return out.getvalue().encode()


def closed_order(bidder: User) -> tuple[Order, Payment]:
    """An offline order placed at T0 and closed by the job at T0 + 7 days (the clock stays there)."""
    clock.set(T0)
    order, payment = make_offline_order(bidder)
    clock.set(T0 + SEVEN_DAYS)
    assert close_expired() == 1
    return order, payment


# --- the deadline -----------------------------------------------------------------------------------------


def test_offline_order_closes_only_once_its_seven_days_have_passed(bidder: User) -> None:
    # R1.6, §7: an unpaid offline remittance order closes after 7 days, not a second earlier
    with clock.frozen(T0):
        order, payment = make_offline_order(bidder)
        assert order.expires_at == T0 + SEVEN_DAYS
        seq = last_audit_seq()

        clock.advance(SEVEN_DAYS - timedelta(seconds=1))
        assert close_expired() == 0
        order.refresh_from_db()
        payment.refresh_from_db()
        assert (order.status, order.closed_at, payment.status, payment.closed_at) == (
            "pending_payment",
            None,
            "pending",
            None,
        )
        assert audit_after(seq) == []
        assert PaymentEvent.objects.count() == 0

        clock.advance(timedelta(seconds=1))
        assert close_expired() == 1

    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, order.closed_at, order.paid_at, order.card_id) == ("closed", T0 + SEVEN_DAYS, None, None)
    assert (payment.status, payment.closed_at, payment.paid_at) == ("closed", T0 + SEVEN_DAYS, None)
    assert Card.objects.count() == 0
    assert list(PaymentEvent.objects.values_list("event_key", "kind", "outcome")) == [
        (f"close:{payment.out_trade_no}", "closed", "closed")
    ]
    assert audit_after(seq) == [
        ("payment.closed", f"payment:{payment.out_trade_no}", "system:auto-close"),
        ("order.closed", f"order:{order.order_no}", "system:auto-close"),
    ]
    assert AuditEvent.objects.get(action="order.closed").data == {"reason": "expired"}
    assert log_intact()


def test_closing_expired_orders_again_closes_nothing_more_and_writes_no_audit(bidder: User) -> None:
    # R1.7, §7: the job is idempotent
    order, payment = closed_order(bidder)
    before = state(order, payment)

    clock.advance(timedelta(days=1))
    assert close_expired() == 0
    assert close_expired() == 0

    assert state(order, payment) == before
    assert (order.status, payment.status) == ("closed", "closed")


def test_only_orders_past_their_own_deadline_are_closed(bidder: User) -> None:
    # §7: the deadline is per order, counted from its own creation
    clock.set(T0)
    early, early_payment = make_offline_order(bidder, token="tok-early")
    clock.set(T0 + timedelta(days=3))
    late, late_payment = make_offline_order(bidder, token="tok-late")

    clock.set(T0 + SEVEN_DAYS)
    assert close_expired() == 1

    early.refresh_from_db()
    early_payment.refresh_from_db()
    late.refresh_from_db()
    late_payment.refresh_from_db()
    assert (early.status, early_payment.status) == ("closed", "closed")
    assert (late.status, late_payment.status, late.closed_at) == ("pending_payment", "pending", None)

    clock.set(T0 + timedelta(days=10) - timedelta(seconds=1))
    assert close_expired() == 0
    clock.set(T0 + timedelta(days=10))
    assert close_expired() == 1
    late.refresh_from_db()
    assert (late.status, late.closed_at) == ("closed", T0 + timedelta(days=10))


def test_a_paid_order_is_never_closed(bidder: User, finance: User) -> None:
    # R1.7: a paid order stays paid, however late the job runs
    clock.set(T0)
    order, payment = make_offline_order(bidder)
    clock.set(T0 + timedelta(days=2))
    assert remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance) == "paid"
    before = state(order, payment)

    clock.set(T0 + timedelta(days=30))
    assert close_expired() == 0

    assert state(order, payment) == before
    assert (order.status, order.closed_at, payment.status, payment.closed_at) == ("paid", None, "paid", None)
    assert Card.objects.count() == 1


# --- after the close --------------------------------------------------------------------------------------


def test_remittance_confirm_is_refused_for_a_closed_order_and_nothing_changes(bidder: User, finance: User) -> None:
    # R1.6, §7: finance can no longer confirm a closed order; the money goes through the statement (refund)
    order, payment = closed_order(bidder)
    before = state(order, payment)

    with pytest.raises(Conflict) as refused:
        remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)

    assert refused.value.code == "order_closed"
    assert refused.value.message == "订单已关闭，不能再确认收款；如款项已到账，请导入银行流水登记为待退款"
    assert state(order, payment) == before
    assert (order.status, payment.status, Card.objects.count()) == ("closed", "closed", 0)


def test_remittance_confirm_of_a_closed_order_in_the_back_office_shows_the_reason(
    bidder: User, finance_client: Client
) -> None:
    # §8: a clear message, not a 500
    order, payment = closed_order(bidder)
    before = state(order, payment)

    response = finance_client.post(f"/backoffice/remittances/{payment.pk}/confirm/", follow=True)

    assert response.redirect_chain == [("/backoffice/remittances/", 302)]
    assert [str(message) for message in response.context["messages"]] == [
        "订单已关闭，不能再确认收款；如款项已到账，请导入银行流水登记为待退款"
    ]
    assert state(order, payment) == before


def test_voucher_upload_is_refused_for_a_closed_order_and_nothing_is_stored(bidder: User) -> None:
    # R1.6, §7
    order, payment = closed_order(bidder)
    before = state(order, payment)

    with pytest.raises(Conflict) as refused:
        remittance_voucher_upload(
            payment_id=payment.pk,
            upload=SimpleUploadedFile("回单.pdf", PDF, "application/pdf"),
            actor=actor_of(bidder),
        )

    assert refused.value.code == "payment_not_pending"
    assert state(order, payment) == before


def test_money_arriving_by_statement_after_the_close_is_kept_as_paid_late_and_makes_no_card(
    bidder: User, finance: User
) -> None:
    # R1.6, R1.7, §7: late money is real money: recorded for refund, never lost, never a card
    order, payment = closed_order(bidder)
    clock.set(T0 + timedelta(days=9))
    seq = last_audit_seq()

    result = statement_import(
        file_name="day9.csv",
        raw=statement_with("TXN-LATE", "2025-05-30 15:00:00", "300.00", payment.memo_code),
        operator=finance,
        actor=actor_of(finance),
    )

    assert (result.new, result.matched, result.unmatched, result.refund) == (1, 0, 0, 1)
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, order.paid_at, order.card_id, order.closed_at) == ("closed", None, None, T0 + SEVEN_DAYS)
    assert payment.status == "paid_late"
    assert payment.paid_at == datetime(2025, 5, 30, 15, 0, tzinfo=BEIJING)
    assert payment.paid_by_event == "statement:TXN-LATE"
    late = StatementLine.objects.get(bank_txn_id="TXN-LATE")
    assert (late.status, late.payment_id) == (LineStatus.PAID_LATE, payment.pk)
    assert Card.objects.count() == 0
    assert [action for action, _, _ in audit_after(seq)] == [
        "statement.imported",
        "payment.paid_late",
        "statement.line_paid_late",
    ]
    assert log_intact()

    # and the job, running again, neither reopens nor re-closes it
    assert close_expired() == 0
    payment.refresh_from_db()
    assert payment.status == "paid_late"


def test_paid_late_order_is_listed_for_refund_in_the_back_office(
    bidder: User, finance: User, finance_client: Client
) -> None:
    # R6.1: finance sees what has to be refunded; a closed order without money is not listed
    order, payment = closed_order(bidder)
    assert order.order_no not in finance_client.get("/backoffice/remittances/").content.decode()
    statement_import(
        file_name="late.csv",
        raw=statement_with("TXN-LATE", "2025-05-30 15:00:00", "300.00", payment.memo_code),
        operator=finance,
        actor=actor_of(finance),
    )

    page = finance_client.get("/backoffice/remittances/").content.decode()

    assert "关闭后到账（待退款）" in page
    assert order.order_no in page
    assert "2025-05-30 15:00" in page


# --- the worker -------------------------------------------------------------------------------------------


def test_close_expired_orders_is_a_periodic_huey_task_that_closes_expired_orders(bidder: User) -> None:
    # §7: the worker runs the close every five minutes
    due_at = [task.name for task in HUEY.read_periodic(datetime(2025, 5, 22, 1, 5))]
    not_due_at = [task.name for task in HUEY.read_periodic(datetime(2025, 5, 22, 1, 7))]
    assert "close_expired_orders" in due_at
    assert "close_expired_orders" not in not_due_at

    clock.set(T0)
    order, payment = make_offline_order(bidder)
    clock.set(T0 + SEVEN_DAYS - timedelta(seconds=1))
    assert close_expired_orders.call_local() == 0
    clock.set(T0 + SEVEN_DAYS)
    seq = last_audit_seq()

    assert close_expired_orders.call_local() == 1
    assert close_expired_orders.call_local() == 0

    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, order.closed_at, payment.status, payment.closed_at) == (
        "closed",
        T0 + SEVEN_DAYS,
        "closed",
        T0 + SEVEN_DAYS,
    )
    assert audit_after(seq) == [
        ("payment.closed", f"payment:{payment.out_trade_no}", "system:auto-close"),
        ("order.closed", f"order:{order.order_no}", "system:auto-close"),
    ]
