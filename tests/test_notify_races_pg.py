"""The notification's fast path (lock-and-update statements, no locking reads) against the close job on PostgreSQL
(R1.6, R1.7): whichever holds the order's row first decides; the other sees its result. Paid once, one card, or
closed and the money kept as paid late: never a card for a closed order."""

from __future__ import annotations

import pytest

from mobileca.accounts.models import User
from mobileca.audit.services import Actor
from mobileca.cards.models import Card
from mobileca.orders.models import Order
from mobileca.payments import closing, observe
from mobileca.payments.closing import payments_close_expired
from mobileca.payments.models import Payment, PaymentEvent
from mobileca.payments.notifications import NotificationResult, alipay_notification_receive
from mobileca.payments.observe import Outcome
from tests.races import Holder, in_thread, wait_until_a_backend_waits_for_a_lock
from tests.support.gateways import alipay_form
from tests.support.payments import expire
from tests.support.platform import place_order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("first", ["notification", "close"])
def test_a_notification_racing_the_close_job_pays_or_is_paid_late_never_both(
    bidder: User, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    order, payment = place_order(bidder, channel="alipay", token="race-close")
    expire(order)  # past its deadline, not yet closed: the close job is due, and the money arrives now
    form = alipay_form(payment)
    results: dict[str, object] = {}

    def receive() -> object:
        return alipay_notification_receive(form=form, remote_addr="127.0.0.1")

    def close() -> object:
        return payments_close_expired(actor=Actor("system", "auto-close"))

    if first == "notification":
        # the notification has moved the order (its row lock held) and stops before the payment's statement
        holder = Holder(observe.payment_pay_if_pending)
        monkeypatch.setattr(observe, "payment_pay_if_pending", holder)
        threads = [in_thread(receive, results, "notification")]
        assert holder.holding.wait(timeout=30)
        threads.append(in_thread(close, results, "close"))
    else:
        holder = Holder(closing.lock_payment_with_order)
        monkeypatch.setattr(closing, "lock_payment_with_order", holder)
        threads = [in_thread(close, results, "close")]
        assert holder.holding.wait(timeout=30)
        threads.append(in_thread(receive, results, "notification"))
    wait_until_a_backend_waits_for_a_lock(on_table="orders_order")
    holder.release.set()
    for thread in threads:
        thread.join(timeout=30)

    order.refresh_from_db()
    payment.refresh_from_db()
    notified = results["notification"]
    assert isinstance(notified, NotificationResult) and notified.accepted, results
    outcomes = dict(PaymentEvent.objects.filter(payment=payment).values_list("event_key", "outcome"))
    close_key, notify_key = f"close:{payment.out_trade_no}", f"notify:{form['notify_id']}"
    if first == "notification":
        assert results["close"] == 0 and notified.outcome == Outcome.PAID
        assert (order.status, payment.status, Card.objects.count()) == ("paid", "paid", 1)
        assert outcomes == {notify_key: "paid", close_key: "noop"}
    else:
        assert results["close"] == 1 and notified.outcome == Outcome.PAID_LATE
        assert (order.status, payment.status, Card.objects.count()) == ("closed", "paid_late", 0)
        assert outcomes == {close_key: "closed", notify_key: "paid_late"}
    assert Order.objects.filter(card_id__isnull=False, status="closed").count() == 0
    assert Payment.objects.filter(pk=payment.pk).count() == 1
