"""What one gateway notification costs the database (issue 15): verified and applied in at most ten statements,
no savepoint, the audit events of the change in one INSERT; a duplicate, a refusal or a second trade notice still
changes nothing more. Runs on SQLite and, with ``DATABASE_URL``, on PostgreSQL (SQLite's ``BEGIN IMMEDIATE`` and
``COMMIT`` are statements here; PostgreSQL's are not captured, so the budget holds on both)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.cards.models import Card
from mobileca.orders.models import Order
from mobileca.payments.models import Payment, PaymentEvent, RejectedNotification
from tests.support.gateways import (
    NOTIFY_URL,
    alipay_form,
    envelope,
    forger_private_pem,
    platform_private_key,
    post_callback,
    seal,
    sign_with,
    signed_notification,
    transaction_json,
)
from tests.support.payments import payment_state
from tests.support.platform import place_order

pytestmark = pytest.mark.django_db(transaction=True)  # the notification's own transaction, as in production

BUDGET = 10


def post_alipay(form: dict[str, str]) -> tuple[str, list[str]]:
    """POST the notification as Alipay does; the reply and every statement the request ran."""
    with CaptureQueriesContext(connection) as captured:
        response = Client().post(NOTIFY_URL, urlencode(form), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    return response.content.decode(), [query["sql"] for query in captured.captured_queries]


def audit_inserts(statements: list[str]) -> int:
    return sum(1 for sql in statements if sql.startswith('INSERT INTO "audit_auditevent"'))


def savepoints(statements: list[str]) -> list[str]:
    return [sql for sql in statements if "SAVEPOINT" in sql.upper()]


def test_an_alipay_notification_is_verified_and_applied_in_at_most_ten_statements(bidder: User) -> None:
    order, payment = place_order(bidder, channel="alipay", token="q1")
    audit_before = AuditEvent.objects.count()
    reply, statements = post_alipay(alipay_form(payment))
    assert reply == "success"
    assert len(statements) <= BUDGET, "\n".join(statements)
    assert savepoints(statements) == []
    assert audit_inserts(statements) == 1  # payment.paid, order.paid and card.created in one INSERT
    order.refresh_from_db()
    payment.refresh_from_db()
    card = Card.objects.get()
    assert (order.status, payment.status, order.card_id) == ("paid", "paid", card.pk)
    assert card.source_order_no == order.order_no
    assert list(payment.events.values_list("outcome", flat=True)) == ["paid"]
    new_actions = AuditEvent.objects.order_by("pk").values_list("action", flat=True)[audit_before:]
    assert list(new_actions) == ["payment.paid", "order.paid", "card.created"]


def test_a_wechatpay_callback_is_verified_and_applied_in_at_most_ten_statements(bidder: User) -> None:
    order, payment = place_order(bidder, channel="wechat", token="q2")
    body = envelope(seal(transaction_json(payment.out_trade_no)))
    headers = sign_with(body, key=platform_private_key())
    with CaptureQueriesContext(connection) as captured:
        response = post_callback(body, headers)
    statements = [query["sql"] for query in captured.captured_queries]
    assert response.status_code == 204
    assert len(statements) <= BUDGET, "\n".join(statements)
    assert savepoints(statements) == [] and audit_inserts(statements) == 1
    order.refresh_from_db()
    assert order.status == "paid" and Payment.objects.get(pk=payment.pk).status == "paid"
    assert Card.objects.filter(source_order_no=order.order_no).count() == 1


def test_the_same_alipay_notification_again_is_acknowledged_and_changes_nothing(bidder: User) -> None:
    order, payment = place_order(bidder, channel="alipay", token="q3")
    form = alipay_form(payment)
    assert post_alipay(form)[0] == "success"
    before = payment_state(order, payment)
    reply, statements = post_alipay(form)
    assert reply == "success"
    assert payment_state(order, payment) == before
    assert audit_inserts(statements) == 0 and savepoints(statements) == []


def test_a_second_notification_of_the_same_trade_is_the_same_money_not_a_second_payment(bidder: User) -> None:
    # TRADE_SUCCESS then TRADE_FINISHED: another notify_id, the same trade_no (R1.7)
    order, payment = place_order(bidder, channel="alipay", token="q4")
    assert post_alipay(alipay_form(payment))[0] == "success"
    assert post_alipay(alipay_form(payment, status="TRADE_FINISHED"))[0] == "success"
    assert Card.objects.count() == 1 and Order.objects.get(pk=order.pk).status == "paid"
    assert sorted(payment.events.values_list("outcome", flat=True)) == ["noop", "paid"]
    assert not AuditEvent.objects.filter(action="payment.extra_credit").exists()


@pytest.mark.parametrize("kind", ["forged", "wrong_amount"])
def test_a_refused_notification_is_recorded_and_changes_nothing(bidder: User, kind: str) -> None:
    order, payment = place_order(bidder, channel="alipay", token="q5")
    before = payment_state(order, payment)
    if kind == "forged":
        form = signed_notification(alipay_form(payment), forger_private_pem())
    else:
        form = alipay_form(payment, amount="0.01")
    assert post_alipay(form)[0] == "failure"
    assert payment_state(order, payment) == before
    refused = RejectedNotification.objects.get()
    assert refused.reason == ("bad_signature" if kind == "forged" else "amount_mismatch")
    assert refused.out_trade_no == payment.out_trade_no


def test_money_for_a_closed_order_takes_the_locks_and_is_kept_as_paid_late(bidder: User) -> None:
    # the fast path finds the order not pending and hands over to the general one in the same transaction
    order, payment = place_order(bidder, channel="alipay", token="q6")
    Order.objects.filter(pk=order.pk).update(status="closed")
    Payment.objects.filter(pk=payment.pk).update(status="closed")
    reply, statements = post_alipay(alipay_form(payment))
    assert reply == "success"
    assert Payment.objects.get(pk=payment.pk).status == "paid_late"
    assert Order.objects.get(pk=order.pk).status == "closed" and Card.objects.count() == 0
    assert list(PaymentEvent.objects.values_list("outcome", flat=True)) == ["paid_late"]
    assert savepoints(statements) == []
