"""Refunds of late money (issue 9): through the channel's refund API (the Alipay sandbox) or recorded offline; the
payment changes once, even when the gateway's refund notification comes twice; the buyer sees it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.core.clock import clock, now
from mobileca.core.errors import FinalGatewayError
from mobileca.notices.models import Notice
from mobileca.orders.models import Order
from mobileca.payments.gateways.alipay import AlipayClient
from mobileca.payments.models import LineStatus, Payment, PaymentEvent, Refund, StatementLine
from mobileca.payments.services import payments_close_expired, statement_import
from tests.support.audit import log_intact
from tests.support.payments import (
    AUTO_CLOSE,
    cashier_pay,
    expire,
    opened_alipay_order,
    place_wechat_order,
    scan_and_pay,
)


@pytest.fixture
def paid_late(bidder: User, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Callable) -> Payment:
    """An Alipay payment that arrived after we closed the order (the gateway had refused to close)."""

    def close_refused(self: AlipayClient, *, out_trade_no: str) -> None:
        raise FinalGatewayError("alipay.trade.close refused (test)")

    monkeypatch.setattr(AlipayClient, "close", close_refused)
    order, payment = opened_alipay_order(bidder)
    expire(order)
    payments_close_expired(actor=AUTO_CLOSE)
    with django_capture_on_commit_callbacks(execute=True):
        scan_and_pay(payment.qr_content)
    payment.refresh_from_db()
    assert payment.status == "paid_late"
    return payment


def test_a_late_alipay_payment_is_refunded_through_the_sandbox_once(
    paid_late: Payment, finance_client: Client, bidder_client: Client, django_capture_on_commit_callbacks: Callable
) -> None:
    from mobileca.sandboxes.alipay.models import Notification, Trade
    from mobileca.sandboxes.alipay.tasks import deliver

    page = finance_client.get("/backoffice/refunds/").content.decode()
    assert paid_late.out_trade_no in page and "原路退款" in page
    with django_capture_on_commit_callbacks(execute=True):  # the sandbox notifies the refund after its commit
        response = finance_client.post("/backoffice/refunds/", {"payment_id": paid_late.pk, "confirm": "yes"})
    assert response.status_code == 302
    trade = Trade.objects.get()
    assert trade.refund_fee == paid_late.amount and trade.status == "TRADE_CLOSED"
    paid_late.refresh_from_db()
    assert paid_late.status == "refunded"
    refund = Refund.objects.get()
    assert (refund.method, refund.amount) == ("api", paid_late.amount)
    events_before = list(PaymentEvent.objects.values_list("event_key", "outcome"))
    refund_notice = Notification.objects.filter(form__refund_fee__isnull=False).latest("pk")
    Notification.objects.filter(pk=refund_notice.pk).update(delivered_at=None)
    assert deliver(refund_notice.pk)  # the same refund notification a second time
    finance_client.post("/backoffice/refunds/", {"payment_id": paid_late.pk, "confirm": "yes"})  # and a second click
    assert Refund.objects.count() == 1 and Trade.objects.get().refund_fee == paid_late.amount
    assert list(PaymentEvent.objects.values_list("event_key", "outcome")) == events_before
    paid_late.refresh_from_db()
    assert paid_late.status == "refunded" and Order.objects.get().status == "closed"
    assert AuditEvent.objects.filter(action="payment.refunded").count() == 1
    assert Notice.objects.filter(kind="payment_refunded").count() == 1
    assert "已退款" in bidder_client.get("/ca/purchase/").content.decode()


def test_an_offline_refund_is_recorded_and_a_wrong_payment_refused(
    paid_late: Payment, finance_client: Client, bidder_client: Client
) -> None:
    # a payment that is not late money cannot be refunded; an offline refund needs its note
    from tests.support.platform import make_offline_order

    bidder = User.objects.get(pk=bidder_client.session["_auth_user_id"])
    _, pending = make_offline_order(bidder, token="other")
    refused = finance_client.post(
        "/backoffice/refunds/", {"payment_id": pending.pk, "offline_note": "x", "confirm": "yes"}
    )
    assert refused.status_code == 409 and not Refund.objects.exists()
    finance_client.post(
        "/backoffice/refunds/", {"payment_id": paid_late.pk, "offline_note": "工行转账 20261128001", "confirm": "yes"}
    )
    refund = Refund.objects.get()
    assert (refund.method, refund.note) == ("offline", "工行转账 20261128001")
    paid_late.refresh_from_db()
    assert paid_late.status == "refunded"


def test_refunds_are_finance_only(paid_late: Payment, bidder_client: Client) -> None:
    assert bidder_client.post("/backoffice/refunds/", {"payment_id": paid_late.pk, "confirm": "yes"}).status_code == 403
    assert not Refund.objects.exists()


def test_a_late_wechat_payment_is_refunded_through_the_sandbox_once(
    bidder: User,
    finance_client: Client,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Callable,
) -> None:
    # WeChat Pay APIv3 refund: the sandbox verifies our signature, refunds, and sends a signed REFUND.SUCCESS
    # callback; delivered twice, it changes nothing
    from mobileca.payments.gateways.wechatpay import WeChatPayClient
    from mobileca.sandboxes.wechatpay.models import Callback
    from mobileca.sandboxes.wechatpay.models import Refund as SandboxRefund
    from mobileca.sandboxes.wechatpay.tasks import deliver

    def refuse_close(self: WeChatPayClient, *, out_trade_no: str) -> None:
        raise FinalGatewayError(f"close of {out_trade_no} refused")

    monkeypatch.setattr(WeChatPayClient, "close", refuse_close)
    order, payment = place_wechat_order(bidder)
    expire(order)
    payments_close_expired(actor=AUTO_CLOSE)
    cashier_pay(payment, django_capture_on_commit_callbacks)
    payment.refresh_from_db()
    assert payment.status == "paid_late"

    with django_capture_on_commit_callbacks(execute=True):
        assert (
            finance_client.post("/backoffice/refunds/", {"payment_id": payment.pk, "confirm": "yes"}).status_code == 302
        )
    sandbox_refund = SandboxRefund.objects.get()
    assert (sandbox_refund.amount, sandbox_refund.out_refund_no) == (30000, f"RF{payment.out_trade_no}")
    refund_callback = Callback.objects.filter(body__contains="REFUND.SUCCESS").get()
    assert refund_callback.delivered_at is not None  # acknowledged by our notify endpoint
    payment.refresh_from_db()
    assert payment.status == "refunded" and Refund.objects.get().method == "api"
    events_before = list(PaymentEvent.objects.values_list("event_key", "outcome"))
    Callback.objects.filter(pk=refund_callback.pk).update(delivered_at=None)
    assert deliver(refund_callback.pk)  # the same callback again
    finance_client.post("/backoffice/refunds/", {"payment_id": payment.pk, "confirm": "yes"})
    assert SandboxRefund.objects.count() == 1 and Refund.objects.count() == 1
    assert list(PaymentEvent.objects.values_list("event_key", "outcome")) == events_before
    assert Order.objects.get().status == "closed"


@pytest.fixture
def late_remittance(bidder: User, finance: User) -> tuple[Payment, StatementLine]:
    """A bank credit for an offline order that had already closed: the payment is paid late, its line waits."""
    from tests.support.platform import actor_of, make_offline_order

    _order, payment = make_offline_order(bidder)
    clock.set(now() + timedelta(days=8))
    payments_close_expired(actor=AUTO_CLOSE)
    csv = "交易流水号,交易时间,金额,付款人户名,付款人账号,附言\n"
    csv += f"TXN-LATE,2026-11-28 10:00:00,300.00,测试企业,6222,{payment.memo_code}"
    statement_import(file_name="s.csv", raw=csv.encode(), operator=finance, actor=actor_of(finance))
    payment.refresh_from_db()
    line = StatementLine.objects.get()
    assert (payment.status, line.status) == ("paid_late", LineStatus.PAID_LATE)
    return payment, line


def _refund_state(payment: Payment) -> tuple[object, ...]:
    payment.refresh_from_db()
    return (
        payment.status,
        list(StatementLine.objects.values_list("status", flat=True)),
        Refund.objects.filter(payment=payment).count(),
        Notice.objects.filter(kind="payment_refunded").count(),
        AuditEvent.objects.filter(action="payment.refunded").count(),
    )


def test_a_late_remittance_refunded_on_the_refunds_page_leaves_the_statement_refund_list(
    late_remittance: tuple[Payment, StatementLine], finance_client: Client
) -> None:
    # issue 13: the refunds page refunded the payment but left its line paid_late; 退回 then raised
    # InvalidTransition (refunded -> refunded) and the line stayed on the to-refund list for good
    payment, line = late_remittance
    response = finance_client.post(
        "/backoffice/refunds/", {"payment_id": payment.pk, "offline_note": "工行转账 20261128001", "confirm": "yes"}
    )
    assert response.status_code == 302
    assert _refund_state(payment) == ("refunded", [LineStatus.RETURNED], 1, 1, 1)
    assert "TXN-LATE" not in finance_client.get("/backoffice/statements/").content.decode()
    # the line, pressed from a page loaded before the refund: a clear refusal, nothing twice
    response = finance_client.post(
        f"/backoffice/statements/lines/{line.pk}/return/", {"reason": "已原路退回", "confirm": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert "该到账记录不需要退回" in response.content.decode()
    assert _refund_state(payment) == ("refunded", [LineStatus.RETURNED], 1, 1, 1)
    assert log_intact()


def test_a_late_remittance_returned_on_its_statement_line_is_a_refund_with_its_notice(
    late_remittance: tuple[Payment, StatementLine], finance_client: Client
) -> None:
    # issue 13: returning through the line wrote no Refund row and told the buyer nothing
    payment, line = late_remittance
    response = finance_client.post(
        f"/backoffice/statements/lines/{line.pk}/return/", {"reason": "已原路退回", "confirm": "yes"}
    )
    assert response.status_code == 302
    assert _refund_state(payment) == ("refunded", [LineStatus.RETURNED], 1, 1, 1)
    refund = Refund.objects.get()
    assert (refund.method, refund.note, refund.amount) == ("offline", "已原路退回", payment.amount)
    assert payment.pk not in [p.pk for p in finance_client.get("/backoffice/refunds/").context["due"]]
    # then the refunds page: the refund exists already, nothing happens twice
    response = finance_client.post(
        "/backoffice/refunds/", {"payment_id": payment.pk, "offline_note": "再次", "confirm": "yes"}
    )
    assert response.status_code == 302
    assert _refund_state(payment) == ("refunded", [LineStatus.RETURNED], 1, 1, 1)
    assert Refund.objects.get().note == "已原路退回"
    assert log_intact()
