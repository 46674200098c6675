"""WeChat Pay APIv3, Native (R1.6, R1.7): our client against the sandbox and against the ``wechatpayv3`` oracle.

Callbacks are verified over the raw body with the WeChat Pay public key (``Wechatpay-Serial: PUB_KEY_ID_…``, five
minutes of clock), their resource decrypted with the APIv3 key and checked against our order; a refused callback is
recorded in ``RejectedNotification`` and changes nothing. Paid exactly once; a lost callback is found by the active
query; at expiry we query, then close, at the gateway and locally; money after our close is kept as paid late.

Signatures use the wall clock (both sides), so these tests never move ``mobileca.core.clock``: expiry is reached by
moving ``Order.expires_at`` into the past instead.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import httpx
import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import Client
from django.utils import timezone
from huey.contrib.djhuey import HUEY
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3 import utils as oracle

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.cards.models import Card
from mobileca.core.errors import FinalGatewayError
from mobileca.core.ids import BEIJING
from mobileca.orders.models import Order
from mobileca.payments import notifications, online, query
from mobileca.payments.closing import payments_close_expired
from mobileca.payments.gateways.signing import SignatureInvalid, aes_gcm_decrypt
from mobileca.payments.gateways.wechatpay import WeChatPayClient, WeChatPayError
from mobileca.payments.models import Payment, PaymentEvent, RejectedNotification
from mobileca.sandboxes.wechatpay import tasks as sandbox_tasks
from mobileca.sandboxes.wechatpay.models import Callback, Trade
from mobileca.sandboxes.wechatpay.signing import signed_headers
from tests.races import race as _race
from tests.support.gateways import (
    PRICE_FEN,
    SIGNATURE_TYPE,
    apiv3_key,
    envelope,
    gateway,
    other_private_key,
    pem_of,
    platform_private_key,
    post_callback,
    seal,
    sign_with,
    transaction_json,
)
from tests.support.payments import AUTO_CLOSE, QUERY_JOB, CaptureOnCommit, cashier_pay, expire, place_wechat_order
from tests.transport import DjangoTestTransport

# --- keys and envelopes ----------------------------------------------------------------------------------------


def merchant() -> dict[str, str]:
    return settings.MOBILECA_WECHATPAY


# --- orders, the cashier and what changed ------------------------------------------------------------------


@pytest.fixture
def pending(bidder: User) -> tuple[Order, Payment]:
    return place_wechat_order(bidder)


def trade_of(payment: Payment) -> Trade:
    return Trade.objects.get(out_trade_no=payment.out_trade_no)


@pytest.fixture
def lost_callbacks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sandbox's callbacks never leave it (a network failure). The view imported the task by name, so the
    name is replaced where the view looks it up."""
    held: list[int] = []
    monkeypatch.setattr("mobileca.sandboxes.wechatpay.views.deliver_with_retries", held.append)
    return held


class Snapshot(NamedTuple):
    """Everything a callback may change: the order, the payment, cards, the inbox and the audit trail."""

    order_status: str
    order_paid_at: datetime | None
    order_closed_at: datetime | None
    card_id: int | None
    payment_status: str
    payment_paid_at: datetime | None
    payment_closed_at: datetime | None
    paid_by_event: str
    settled_by_event: str
    cards: int
    inbox: int | None
    audit: int | None

    def money(self) -> Snapshot:
        """The same, leaving out the inbox and audit rows that merely record a notice."""
        return self._replace(inbox=None, audit=None)


def state(order: Order, payment: Payment) -> Snapshot:
    order.refresh_from_db()
    payment.refresh_from_db()
    return Snapshot(
        order.status,
        order.paid_at,
        order.closed_at,
        order.card_id,
        payment.status,
        payment.paid_at,
        payment.closed_at,
        payment.paid_by_event,
        payment.settled_by_event,
        Card.objects.count(),
        PaymentEvent.objects.count(),
        AuditEvent.objects.count(),
    )


@pytest.fixture(autouse=True)
def _no_scheduled_retries_left() -> Iterator[None]:
    """A refused delivery schedules a retry in Huey's in-memory store: none is left over from or for another test."""
    HUEY.storage.flush_schedule()
    yield
    HUEY.storage.flush_schedule()


def assert_refused(
    response: HttpResponse,
    *,
    status: int,
    reason: str,
    out_trade_no: str,
    before: Snapshot,
    order: Order,
    payment: Payment,
) -> None:
    """WeChat's failure reply, nothing changed (order, payment, card, inbox, audit), the refusal recorded."""
    assert response.status_code == status
    assert json.loads(response.content) == {"code": "FAIL", "message": "失败"}
    assert state(order, payment) == before
    assert (order.status, payment.status, order.card_id) == ("pending_payment", "pending", None)
    assert list(RejectedNotification.objects.values_list("channel", "reason", "out_trade_no")) == [
        ("wechat", reason, out_trade_no)
    ]


def audit_actions(payment: Payment) -> list[str]:
    return list(
        AuditEvent.objects.filter(subject=f"payment:{payment.out_trade_no}")
        .order_by("pk")
        .values_list("action", flat=True)
    )


# --- the happy path ---------------------------------------------------------------------------------------


def test_native_qr_code_paid_in_the_cashier_pays_the_order_once_and_creates_the_card(
    bidder_client: Client, gateway_transport: DjangoTestTransport, django_capture_on_commit_callbacks: CaptureOnCommit
) -> None:
    # R1.6: 微信支付 shows a Native code_url; the sandbox's signed callback pays the order and the card appears.
    response = bidder_client.post(
        "/ca/purchase/mobile-ca/",
        {"region": "jiangxi", "channel": "wechat", "expected_amount": "300.00", "client_token": "wx"},
    )
    order = Order.objects.get()
    assert bidder_client.get(response["Location"]).status_code == 200
    assert bidder_client.get(response["Location"]).status_code == 200  # a reload shows the same code
    payment = Payment.objects.get()

    native = [request for request in gateway_transport.requests if request.url.path.endswith("/native")]
    assert len(native) == 1
    sent = json.loads(native[0].content)
    assert sent == {
        "appid": merchant()["appid"],
        "mchid": merchant()["mchid"],
        "description": order.product_name,
        "out_trade_no": payment.out_trade_no,
        "time_expire": (order.expires_at - online.GATEWAY_MARGIN).astimezone(BEIJING).isoformat(timespec="seconds"),
        "notify_url": "http://testserver/payments/notify/wechatpay/",
        "amount": {"total": PRICE_FEN, "currency": "CNY"},
    }
    gateway_expiry = order.expires_at - online.GATEWAY_MARGIN  # the gateway gives up before we do
    trade = trade_of(payment)
    assert (trade.state, trade.amount_total, trade.time_expire) == (
        "NOTPAY",
        PRICE_FEN,
        gateway_expiry.replace(microsecond=0),  # time_expire is RFC 3339 to the second
    )
    assert payment.qr_content == f"http://testserver/sandbox/wechatpay/cashier/{trade.token}/"
    assert (payment.status, payment.gateway_expires_at) == ("pending", gateway_expiry)

    page = cashier_pay(payment, django_capture_on_commit_callbacks)

    assert "支付成功" in page
    callback = Callback.objects.get()
    assert callback.delivered_at is not None
    assert (callback.attempts, callback.last_answer) == (1, "HTTP 204 ")
    trade.refresh_from_db()
    order.refresh_from_db()
    payment.refresh_from_db()
    card = Card.objects.get()
    assert (order.status, order.card_id) == ("paid", card.pk)
    assert (payment.status, payment.paid_by_event, payment.settled_by_event) == (
        "paid",
        f"callback:{callback.event_id}",
        f"wechatpay:{trade.transaction_id}",
    )
    assert list(PaymentEvent.objects.values_list("channel", "event_key", "kind", "outcome")) == [
        ("wechat", f"callback:{callback.event_id}", "paid", "paid")
    ]
    assert audit_actions(payment) == ["payment.started", "payment.opened", "payment.paid"]
    assert RejectedNotification.objects.count() == 0
    done = f"/ca/orders/{order.order_no}/done/"
    assert bidder_client.get(f"/ca/orders/{order.order_no}/status/").json() == {"status": "paid", "next": done}
    arrived = bidder_client.get(done, follow=True)
    assert arrived.redirect_chain[-1][0] == "/ca/cards/" and "支付成功" in arrived.content.decode()


# --- duplicates, concurrency, order of arrival (R1.7) -----------------------------------------------------


def test_duplicate_callback_reposted_freshly_signed_is_acknowledged_and_pays_once(
    pending: tuple[Order, Payment], django_capture_on_commit_callbacks: CaptureOnCommit
) -> None:
    # R1.7: WeChat Pay re-sends the same callback (same id, same body) until it sees 204: paid exactly once.
    order, payment = pending
    cashier_pay(payment, django_capture_on_commit_callbacks)
    callback = Callback.objects.get()
    before = state(order, payment)
    assert (before.order_status, before.cards) == ("paid", 1)

    body = callback.body.encode()
    response = post_callback(body, signed_headers(body))

    assert response.status_code == 204
    assert state(order, payment) == before
    assert PaymentEvent.objects.get().event_key == f"callback:{callback.event_id}"
    assert RejectedNotification.objects.count() == 0


def test_second_callback_with_another_id_for_the_same_transaction_is_the_same_money_not_a_second_payment(
    pending: tuple[Order, Payment], lost_callbacks: list[int], django_capture_on_commit_callbacks: CaptureOnCommit
) -> None:
    # R1.7: the same money in two envelopes (different ids), the crafted one first and the sandbox's own late:
    # paid once, the second is the same money seen again (no extra credit), the payment stays paid.
    order, payment = pending
    cashier_pay(payment, django_capture_on_commit_callbacks)
    trade = trade_of(payment)
    genuine = Callback.objects.get()
    assert lost_callbacks == [genuine.pk]
    early = envelope(seal(transaction_json(payment.out_trade_no, transaction_id=trade.transaction_id)))

    assert post_callback(early, signed_headers(early)).status_code == 204
    after_first = state(order, payment)
    assert sandbox_tasks.deliver(genuine.pk) is True

    genuine.refresh_from_db()
    assert (genuine.attempts, genuine.delivered_at is not None) == (1, True)
    assert state(order, payment).money() == after_first.money()
    assert (order.status, payment.status, Card.objects.count()) == ("paid", "paid", 1)
    early_id = json.loads(early)["id"]
    assert list(PaymentEvent.objects.order_by("id").values_list("event_key", "outcome")) == [
        (f"callback:{early_id}", "paid"),
        (f"callback:{genuine.event_id}", "noop"),
    ]
    assert payment.settled_by_event == f"wechatpay:{trade.transaction_id}"
    assert "payment.extra_credit" not in audit_actions(payment)
    assert audit_actions(payment).count("payment.paid") == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("same_id", [True, False], ids=["same_callback_twice", "two_ids_one_transaction"])
def test_callbacks_for_one_transaction_arriving_at_once_pay_once_on_postgres(
    bidder: User, lost_callbacks: list[int], same_id: bool
) -> None:
    # R1.7, §4: two threads deliver at the same instant; the row locks and the inbox let one of them pay.
    order, payment = place_wechat_order(bidder)
    Client().post(payment.qr_content, {"action": "pay"})  # committed: the sandbox's own delivery is lost
    assert lost_callbacks == [Callback.objects.get().pk]
    trade = trade_of(payment)
    plaintext = transaction_json(payment.out_trade_no, transaction_id=trade.transaction_id)
    bodies = [envelope(seal(plaintext), event_id="evt-1"), envelope(seal(plaintext), event_id="evt-2")]
    if same_id:
        bodies = [bodies[0], bodies[0]]
    signed = [(body, signed_headers(body)) for body in bodies]
    turn = iter(signed)
    pick = threading.Lock()

    def deliver() -> int:
        with pick:
            body, headers = next(turn)
        return post_callback(body, headers).status_code

    assert _race(deliver) == [204, 204]
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, payment.status, Card.objects.count()) == ("paid", "paid", 1)
    outcomes = sorted(PaymentEvent.objects.values_list("outcome", flat=True))
    assert outcomes == (["paid"] if same_id else ["noop", "paid"])
    assert audit_actions(payment).count("payment.paid") == 1
    assert "payment.extra_credit" not in audit_actions(payment)


# --- refusals: forged, foreign, stale, unknown, wrong amount (R1.7) ---------------------------------------


def test_callback_signed_with_another_rsa_key_is_refused_and_recorded(pending: tuple[Order, Payment]) -> None:
    # R1.7: a forger who knows our public key id but not WeChat Pay's private key cannot pay an order.
    order, payment = pending
    before = state(order, payment)
    body = envelope(seal(transaction_json(payment.out_trade_no)))

    response = post_callback(body, sign_with(body, key=other_private_key()))

    assert_refused(
        response, status=401, reason="bad_signature", out_trade_no="", before=before, order=order, payment=payment
    )
    rejected = RejectedNotification.objects.get()
    assert rejected.body == body.decode()
    assert rejected.headers["Wechatpay-Serial"] == gateway()["public_key_id"]


def test_callback_naming_an_unknown_wechatpay_serial_is_refused_and_recorded(pending: tuple[Order, Payment]) -> None:
    # R1.7: only the WeChat Pay public key we hold (PUB_KEY_ID_…) is trusted, even for a correct signature.
    order, payment = pending
    before = state(order, payment)
    body = envelope(seal(transaction_json(payment.out_trade_no)))

    response = post_callback(body, sign_with(body, key=platform_private_key(), serial="PUB_KEY_ID_0000000000000099"))

    assert_refused(
        response, status=401, reason="bad_signature", out_trade_no="", before=before, order=order, payment=payment
    )


@pytest.mark.parametrize("age_seconds", [360, -360], ids=["six_minutes_old", "six_minutes_ahead"])
def test_correctly_signed_callback_outside_the_five_minute_window_is_refused_as_stale(
    pending: tuple[Order, Payment], age_seconds: int
) -> None:
    # R1.7: Wechatpay-Timestamp must be within five minutes of our clock (a replayed capture is refused).
    order, payment = pending
    before = state(order, payment)
    body = envelope(seal(transaction_json(payment.out_trade_no)))

    response = post_callback(body, sign_with(body, key=platform_private_key(), age_seconds=age_seconds))

    assert_refused(
        response, status=400, reason="stale_timestamp", out_trade_no="", before=before, order=order, payment=payment
    )


def test_callback_just_inside_the_five_minute_window_is_accepted(pending: tuple[Order, Payment]) -> None:
    # R1.7: the window is five minutes, not less (4 min 50 s old is still genuine).
    order, payment = pending
    body = envelope(seal(transaction_json(payment.out_trade_no)))

    response = post_callback(body, sign_with(body, key=platform_private_key(), age_seconds=290))

    assert response.status_code == 204
    assert state(order, payment).order_status == "paid"
    assert RejectedNotification.objects.count() == 0


def test_callback_whose_resource_is_encrypted_with_another_apiv3_key_is_refused(
    pending: tuple[Order, Payment],
) -> None:
    # R1.7: a correctly signed envelope whose resource does not decrypt under our APIv3 key is not a payment.
    order, payment = pending
    before = state(order, payment)
    wrong_key = secrets.token_hex(16).encode()
    assert wrong_key != apiv3_key()
    body = envelope(seal(transaction_json(payment.out_trade_no), key=wrong_key))

    response = post_callback(body, signed_headers(body))

    assert_refused(
        response, status=401, reason="bad_signature", out_trade_no="", before=before, order=order, payment=payment
    )


@pytest.mark.parametrize(
    "foreign", [{"mchid": "1900000999"}, {"appid": "wx0000000000000999"}], ids=["other_mchid", "other_appid"]
)
def test_callback_for_another_merchant_or_app_is_refused(
    pending: tuple[Order, Payment], foreign: dict[str, str]
) -> None:
    # R1.7: the decrypted transaction must name our mchid and appid.
    order, payment = pending
    before = state(order, payment)
    body = envelope(
        seal(transaction_json(payment.out_trade_no, mchid=foreign.get("mchid"), appid=foreign.get("appid")))
    )

    response = post_callback(body, signed_headers(body))

    assert_refused(
        response,
        status=400,
        reason="wrong_merchant",
        out_trade_no=payment.out_trade_no,
        before=before,
        order=order,
        payment=payment,
    )


def test_callback_for_an_unknown_out_trade_no_is_refused(pending: tuple[Order, Payment]) -> None:
    # R1.7: a genuine callback for a trade number we never issued pays nothing.
    order, payment = pending
    before = state(order, payment)
    body = envelope(seal(transaction_json("WX20250522NOSUCHORDER01")))

    response = post_callback(body, signed_headers(body))

    assert_refused(
        response,
        status=400,
        reason="unknown_order",
        out_trade_no="WX20250522NOSUCHORDER01",
        before=before,
        order=order,
        payment=payment,
    )


@pytest.mark.parametrize("total", [1, PRICE_FEN - 1, PRICE_FEN + 1])
def test_callback_with_a_different_amount_total_is_refused(pending: tuple[Order, Payment], total: int) -> None:
    # R1.7: amount.total (fen) must equal the order's ¥300.00 exactly.
    order, payment = pending
    before = state(order, payment)
    body = envelope(seal(transaction_json(payment.out_trade_no, total=total)))

    response = post_callback(body, signed_headers(body))

    assert_refused(
        response,
        status=400,
        reason="amount_mismatch",
        out_trade_no=payment.out_trade_no,
        before=before,
        order=order,
        payment=payment,
    )


def assert_refused_whatever_the_reason(
    response: HttpResponse, *, before: Snapshot, order: Order, payment: Payment
) -> None:
    """For the known bugs below: any 4xx refusal that changes nothing and is recorded will do as the fix."""
    assert 400 <= response.status_code < 500
    assert state(order, payment) == before
    assert RejectedNotification.objects.filter(channel="wechat").count() == 1


def test_callback_in_another_currency_is_refused(pending: tuple[Order, Payment]) -> None:
    # R1.7: 30000 in another currency is not ¥300.00.
    order, payment = pending
    before = state(order, payment)
    body = envelope(seal(transaction_json(payment.out_trade_no, currency="USD")))

    response = post_callback(body, signed_headers(body))

    assert_refused_whatever_the_reason(response, before=before, order=order, payment=payment)


def test_callback_without_signature_headers_is_refused(pending: tuple[Order, Payment]) -> None:
    # R1.7: callback verification is mandatory; an unsigned body (however plausible) is refused.
    order, payment = pending
    before = state(order, payment)
    body = envelope(seal(transaction_json(payment.out_trade_no)))

    response = post_callback(body, {})

    assert_refused(
        response, status=401, reason="bad_signature", out_trade_no="", before=before, order=order, payment=payment
    )


def test_callback_with_a_non_numeric_timestamp_is_refused_not_a_server_error(pending: tuple[Order, Payment]) -> None:
    # R1.7: whatever the headers hold, an unverifiable callback is refused and recorded, never a crash.
    order, payment = pending
    before = state(order, payment)
    body = envelope(seal(transaction_json(payment.out_trade_no)))
    headers = {**signed_headers(body), "Wechatpay-Timestamp": "²"}

    response = post_callback(body, headers)

    assert_refused_whatever_the_reason(response, before=before, order=order, payment=payment)


def test_refund_notification_is_not_a_payment(pending: tuple[Order, Payment]) -> None:
    # R1.7: a genuine REFUND.SUCCESS for our trade (its resource carries no appid and no trade_state) pays nothing.
    order, payment = pending
    before = state(order, payment)
    refund = {
        "mchid": gateway()["mchid"],
        "out_trade_no": payment.out_trade_no,
        "transaction_id": "4200000000202505220000000001",
        "out_refund_no": "RF0001",
        "refund_id": "50000000382019052709732678859",
        "refund_status": "SUCCESS",
        "success_time": timezone.now().isoformat(timespec="seconds"),
        "user_received_account": "支付用户零钱",
        "amount": {"total": PRICE_FEN, "refund": PRICE_FEN, "payer_total": PRICE_FEN, "payer_refund": PRICE_FEN},
    }
    body = json.loads(envelope(seal(refund)))
    body.update({"event_type": "REFUND.SUCCESS", "summary": "退款成功"})
    body["resource"]["original_type"] = "refund"
    raw = json.dumps(body, ensure_ascii=False).encode()

    response = post_callback(raw, signed_headers(raw))

    assert response.status_code == 204  # acknowledged, so WeChat Pay does not retry it for a day
    assert state(order, payment).money() == before.money()  # unpaid, no card
    assert not PaymentEvent.objects.filter(kind="paid").exists()
    assert PaymentEvent.objects.filter(kind="status", payment=payment).count() == 1
    assert not RejectedNotification.objects.exists()


def test_reserialised_callback_body_with_the_original_signature_is_refused(pending: tuple[Order, Payment]) -> None:
    # R1.7, notes §2 [W6][W14]: the signature covers the raw body; the same JSON with other whitespace is refused,
    # and the original bytes with the very same headers are then accepted.
    order, payment = pending
    before = state(order, payment)
    raw = envelope(seal(transaction_json(payment.out_trade_no)))
    headers = signed_headers(raw)
    reserialised = json.dumps(json.loads(raw), ensure_ascii=False, indent=2).encode()
    assert reserialised != raw and json.loads(reserialised) == json.loads(raw)

    response = post_callback(reserialised, headers)

    assert_refused(
        response, status=401, reason="bad_signature", out_trade_no="", before=before, order=order, payment=payment
    )
    assert post_callback(raw, headers).status_code == 204
    assert state(order, payment).order_status == "paid"


def test_forged_callback_cannot_occupy_the_event_id_of_the_genuine_one(
    pending: tuple[Order, Payment], lost_callbacks: list[int], django_capture_on_commit_callbacks: CaptureOnCommit
) -> None:
    # R1.7: refusals are kept out of the inbox, so a forgery sent first with the real event id blocks nothing.
    order, payment = pending
    cashier_pay(payment, django_capture_on_commit_callbacks)
    genuine = Callback.objects.get()
    assert lost_callbacks == [genuine.pk]
    before = state(order, payment)
    forged = genuine.body.encode()

    refused = post_callback(forged, sign_with(forged, key=other_private_key()))

    assert_refused(
        refused, status=401, reason="bad_signature", out_trade_no="", before=before, order=order, payment=payment
    )
    assert sandbox_tasks.deliver(genuine.pk) is True
    assert state(order, payment).order_status == "paid"
    assert PaymentEvent.objects.get().event_key == f"callback:{genuine.event_id}"


# --- lost callbacks and the sandbox's retries -------------------------------------------------------------


def test_lost_callback_is_found_by_the_active_query_and_the_late_callback_changes_nothing(
    pending: tuple[Order, Payment], lost_callbacks: list[int], django_capture_on_commit_callbacks: CaptureOnCommit
) -> None:
    # R1.7, §4: the buyer paid but the callback never arrived; the query of pending payments finds the money, and
    # when WeChat Pay's retry finally gets through it is the same money (no second payment, no second card).
    order, payment = pending
    assert "支付成功" in cashier_pay(payment, django_capture_on_commit_callbacks)
    genuine = Callback.objects.get()
    assert lost_callbacks == [genuine.pk]
    assert (genuine.attempts, genuine.delivered_at) == (0, None)
    assert state(order, payment).order_status == "pending_payment"
    trade = trade_of(payment)

    assert query.payments_query_pending(actor=QUERY_JOB, older_than=timedelta(0)) == 1

    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, payment.status, Card.objects.count()) == ("paid", "paid", 1)
    assert (payment.paid_by_event, payment.settled_by_event) == (
        f"query:{trade.transaction_id}",
        f"wechatpay:{trade.transaction_id}",
    )
    assert list(PaymentEvent.objects.values_list("event_key", "outcome")) == [(f"query:{trade.transaction_id}", "paid")]
    after_query = state(order, payment)
    assert query.payments_query_pending(actor=QUERY_JOB, older_than=timedelta(0)) == 0

    assert sandbox_tasks.deliver(genuine.pk) is True

    assert state(order, payment).money() == after_query.money()
    assert PaymentEvent.objects.order_by("id").last().outcome == "noop"  # type: ignore[union-attr]
    assert "payment.extra_credit" not in audit_actions(payment)
    genuine.refresh_from_db()
    assert genuine.delivered_at is not None


def test_active_query_leaves_an_unpaid_trade_pending(pending: tuple[Order, Payment]) -> None:
    # R1.7: NOTPAY at the gateway is not a payment; nothing is recorded.
    order, payment = pending
    before = state(order, payment)

    assert query.payments_query_pending(actor=QUERY_JOB, older_than=timedelta(0)) == 0

    assert state(order, payment) == before


def test_sandbox_retries_a_callback_the_platform_refused_until_it_is_acknowledged(
    pending: tuple[Order, Payment], monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: CaptureOnCommit
) -> None:
    # R1.6: the sandbox behaves like WeChat Pay: a 4xx is not an acknowledgement, the callback is retried on the
    # (time-scaled) schedule, each attempt signed afresh, until the platform answers 204.
    order, payment = pending
    real_receive = notifications.wechatpay_notification_receive
    answers: list[bool] = []

    def refuse_once(**kwargs: Any) -> notifications.NotificationResult:
        if not answers:
            answers.append(False)
            return notifications.NotificationResult(False, notifications.Refusal.BAD_SIGNATURE)
        answers.append(True)
        return real_receive(**kwargs)

    monkeypatch.setattr("mobileca.payments.notify_views.wechatpay_notification_receive", refuse_once)
    cashier_pay(payment, django_capture_on_commit_callbacks)

    callback = Callback.objects.get()
    assert (callback.attempts, callback.delivered_at) == (1, None)
    assert callback.last_answer.startswith("HTTP 401 ")
    assert state(order, payment).order_status == "pending_payment"
    retries = HUEY.scheduled()  # the first retry, 15 s scaled by SANDBOX_TIME_SCALE; the test plays it by hand
    assert [(task.name, task.args) for task in retries] == [("deliver_with_retries", (callback.pk,))]

    assert sandbox_tasks.deliver(callback.pk) is True

    callback.refresh_from_db()
    assert callback.attempts == 2 and callback.delivered_at is not None
    assert answers == [False, True]
    assert state(order, payment).order_status == "paid"
    assert Card.objects.count() == 1


# --- expiry: query, then close, at the gateway and locally ----------------------------------------------------


def test_expired_order_is_queried_then_closed_at_the_gateway_and_locally(
    pending: tuple[Order, Payment],
    gateway_transport: DjangoTestTransport,
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    # R1.6, §4: at our deadline the close job asks the gateway (not paid), closes the trade there, then locally;
    # a buyer who scans the old QR code afterwards finds the trade closed and no callback is sent.
    order, payment = pending
    expire(order)
    seen = len(gateway_transport.requests)

    assert payments_close_expired(actor=AUTO_CLOSE) == 1

    calls = [(request.method, request.url.raw_path.decode()) for request in gateway_transport.requests[seen:]]
    base = f"/sandbox/wechatpay/v3/pay/transactions/out-trade-no/{payment.out_trade_no}"
    assert calls == [("GET", f"{base}?mchid={merchant()['mchid']}"), ("POST", f"{base}/close")]
    assert json.loads(gateway_transport.requests[-1].content) == {"mchid": merchant()["mchid"]}
    assert trade_of(payment).state == "CLOSED"
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, payment.status, order.card_id) == ("closed", "closed", None)
    assert list(PaymentEvent.objects.values_list("event_key", "outcome")) == [
        (f"close:{payment.out_trade_no}", "closed")
    ]
    after_close = state(order, payment)

    page = cashier_pay(payment, django_capture_on_commit_callbacks)

    assert "已关闭" in page and "确认支付" not in page
    assert Callback.objects.count() == 0
    assert trade_of(payment).state == "CLOSED"
    assert state(order, payment) == after_close
    assert payments_close_expired(actor=AUTO_CLOSE) == 0


def test_expired_order_paid_at_the_gateway_with_its_callback_lost_is_found_paid_by_the_close_job(
    pending: tuple[Order, Payment],
    lost_callbacks: list[int],
    gateway_transport: DjangoTestTransport,
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    # R1.6, §4: query before close: money taken before the deadline is found, the order is paid, nothing closed.
    order, payment = pending
    cashier_pay(payment, django_capture_on_commit_callbacks)
    assert len(lost_callbacks) == 1
    expire(order)
    seen = len(gateway_transport.requests)

    assert payments_close_expired(actor=AUTO_CLOSE) == 0

    assert [request.method for request in gateway_transport.requests[seen:]] == ["GET"]  # no close
    trade = trade_of(payment)
    assert trade.state == "SUCCESS"
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, payment.status, Card.objects.count()) == ("paid", "paid", 1)
    assert payment.closed_at is None and order.closed_at is None
    assert payment.paid_by_event == f"query:{trade.transaction_id}"


def test_payment_after_our_order_closed_is_recorded_as_paid_late_without_a_card(
    pending: tuple[Order, Payment],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    # R1.7, §4: the gateway would not close the trade, so we closed locally; the buyer pays anyway. The money is
    # real: acknowledged (no endless retries), kept as paid late for refund, the order stays closed, no card.
    order, payment = pending

    def refuse_close(self: WeChatPayClient, *, out_trade_no: str) -> None:
        raise FinalGatewayError(f"close of {out_trade_no} refused")

    monkeypatch.setattr(WeChatPayClient, "close", refuse_close)
    expire(order)
    assert payments_close_expired(actor=AUTO_CLOSE) == 1
    assert trade_of(payment).state == "NOTPAY"
    order.refresh_from_db()
    closed_at = order.closed_at

    cashier_pay(payment, django_capture_on_commit_callbacks)

    callback = Callback.objects.get()
    assert callback.delivered_at is not None and callback.last_answer == "HTTP 204 "
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, order.closed_at, order.card_id, order.paid_at) == ("closed", closed_at, None, None)
    assert (payment.status, payment.paid_by_event) == ("paid_late", f"callback:{callback.event_id}")
    assert payment.settled_by_event == f"wechatpay:{trade_of(payment).transaction_id}"
    assert Card.objects.count() == 0
    assert list(PaymentEvent.objects.order_by("id").values_list("kind", "outcome")) == [
        ("closed", "closed"),
        ("paid", "paid_late"),
    ]
    assert audit_actions(payment)[-1] == "payment.paid_late"


# --- the client against the sandbox -----------------------------------------------------------------------


AUTHORIZATION_RE = re.compile(
    r'^WECHATPAY2-SHA256-RSA2048 mchid="(?P<mchid>[^"]+)",nonce_str="(?P<nonce>[^"]+)",'
    r'signature="(?P<signature>[^"]+)",timestamp="(?P<timestamp>\d+)",serial_no="(?P<serial>[^"]+)"$'
)


def test_client_requests_carry_an_authorization_the_sandbox_accepts(
    pending: tuple[Order, Payment], gateway_transport: DjangoTestTransport
) -> None:
    # R1.6: every request is signed WECHATPAY2-SHA256-RSA2048 with our mchid and merchant serial, fresh each time.
    _, payment = pending
    client = online.wechatpay_client()

    trade = client.query(out_trade_no=payment.out_trade_no)

    assert trade is not None
    assert (trade.out_trade_no, trade.trade_state, trade.amount_total) == (payment.out_trade_no, "NOTPAY", PRICE_FEN)
    assert (trade.mchid, trade.appid) == (merchant()["mchid"], merchant()["appid"])
    headers = [request.headers["Authorization"] for request in gateway_transport.requests]
    fields = [AUTHORIZATION_RE.match(header) for header in headers]
    assert all(fields) and len(fields) == 2  # native, then query
    for match in fields:
        assert match is not None
        assert (match["mchid"], match["serial"]) == (merchant()["mchid"], merchant()["merchant_serial_no"])
        assert abs(int(match["timestamp"]) - time.time()) < 60
    assert fields[0]["nonce"] != fields[1]["nonce"]  # type: ignore[index]


def test_request_signed_with_the_wrong_merchant_key_gets_sign_error_from_the_sandbox(
    pending: tuple[Order, Payment],
) -> None:
    # R1.6: the sandbox verifies our signatures as WeChat Pay does: 401 SIGN_ERROR (itself a signed response).
    _, payment = pending
    client = online.wechatpay_client()
    wrong = WeChatPayClient(
        dataclasses.replace(client.config, merchant_private_key_pem=pem_of(other_private_key())),
        http_factory=online.http_client,
    )

    with pytest.raises(WeChatPayError) as raised:
        wrong.query(out_trade_no=payment.out_trade_no)
    assert (raised.value.status, raised.value.code, raised.value.message) == (401, "SIGN_ERROR", "签名错误")

    with pytest.raises(WeChatPayError) as raised:
        wrong.native(
            out_trade_no="WXWRONGKEY0000000001",
            amount_fen=PRICE_FEN,
            description="移动CA证书",
            expires_at=timezone.now() + timedelta(hours=1),
        )
    assert raised.value.code == "SIGN_ERROR"
    assert not Trade.objects.filter(out_trade_no="WXWRONGKEY0000000001").exists()


class Tampering(httpx.BaseTransport):
    """A man in the middle who turns every NOTPAY answer into SUCCESS, keeping WeChat Pay's signature headers."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        body = response.read().replace(b'"NOTPAY"', b'"SUCCESS"')
        headers = [(key, value) for key, value in response.headers.items() if key.lower() != "content-length"]
        return httpx.Response(response.status_code, headers=headers, content=body)


def test_sandbox_response_with_a_tampered_body_raises_signature_invalid_and_pays_nothing(
    pending: tuple[Order, Payment], gateway_transport: DjangoTestTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    # R1.6: responses are verified over the raw body too; an altered answer is not believed.
    order, payment = pending
    before = state(order, payment)
    client = online.wechatpay_client()
    tampered = WeChatPayClient(client.config, http_factory=lambda: httpx.Client(transport=Tampering(gateway_transport)))

    with pytest.raises(SignatureInvalid):
        tampered.query(out_trade_no=payment.out_trade_no)

    monkeypatch.setattr(online, "http_client", lambda: httpx.Client(transport=Tampering(gateway_transport)))
    assert query.payments_query_pending(actor=QUERY_JOB, older_than=timedelta(0)) == 0
    assert state(order, payment) == before


class Replaying(httpx.BaseTransport):
    """Answers the query for one trade with a genuine, fresh, signed answer recorded for another trade."""

    def __init__(self, inner: httpx.BaseTransport, *, out_trade_no: str, recorded: httpx.Response) -> None:
        self.inner, self.out_trade_no, self.recorded = inner, out_trade_no, recorded

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and f"/out-trade-no/{self.out_trade_no}?" in request.url.raw_path.decode():
            return httpx.Response(
                self.recorded.status_code, headers=self.recorded.headers, content=self.recorded.content
            )
        return self.inner.handle_request(request)


def test_signed_query_answer_for_another_trade_does_not_pay_this_order(
    bidder: User, gateway_transport: DjangoTestTransport, django_capture_on_commit_callbacks: CaptureOnCommit
) -> None:
    # R1.7: only an answer about this very trade can pay it (defence in depth beside the response signature).
    victim_order, victim = place_wechat_order(bidder, token="wx-a")
    _, other = place_wechat_order(bidder, token="wx-b")
    cashier_pay(other, django_capture_on_commit_callbacks)
    answers: list[httpx.Response] = []

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = gateway_transport.handle_request(request)
            response.read()
            answers.append(response)
            return response

    config = online.wechatpay_client().config
    paid_elsewhere = WeChatPayClient(config, http_factory=lambda: httpx.Client(transport=Recording()))
    assert paid_elsewhere.query(out_trade_no=other.out_trade_no).trade_state == "SUCCESS"  # type: ignore[union-attr]
    before = state(victim_order, victim)
    replay = Replaying(gateway_transport, out_trade_no=victim.out_trade_no, recorded=answers[-1])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(online, "http_client", lambda: httpx.Client(transport=replay))
        found = query.payments_query_pending(actor=QUERY_JOB, older_than=timedelta(0))

    assert found == 0
    assert state(victim_order, victim) == before


def test_query_of_a_trade_the_gateway_does_not_know_returns_none(db: None) -> None:
    # R1.6: ORDER_NOT_EXIST (404, signed) means "never created there", not an error.
    assert online.wechatpay_client().query(out_trade_no="WXNEVERCREATED000001") is None


# --- the wechatpayv3 oracle ---------------------------------------------------------------------------------


def oracle_wechatpay() -> WeChatPay:
    """wechatpayv3 in public-key mode, configured as a merchant of the sandbox (no network at construction)."""
    return WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE,
        mchid=merchant()["mchid"],
        private_key=Path(merchant()["merchant_private_key_path"]).read_text(),
        cert_serial_no=merchant()["merchant_serial_no"],
        appid=merchant()["appid"],
        apiv3_key=apiv3_key().decode(),
        notify_url=merchant()["notify_url"],
        public_key=Path(merchant()["public_key_path"]).read_text(),
        public_key_id=merchant()["public_key_id"],
    )


@pytest.mark.parametrize("call", ["native", "query"])
def test_wechatpayv3_verifies_the_authorization_our_client_builds(
    db: None, gateway_transport: DjangoTestTransport, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    # Issue 3 oracle: our request signature verifies with wechatpayv3's rsa_verify and the merchant public key,
    # and is byte for byte what its build_authorization makes for the same timestamp and nonce.
    client = online.wechatpay_client()
    client.native(
        out_trade_no="WXORACLE000000000001",
        amount_fen=PRICE_FEN,
        description="移动CA证书（一年）",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    if call == "query":
        assert client.query(out_trade_no="WXORACLE000000000001") is not None
    request = gateway_transport.requests[-1]
    method = request.method
    path = request.url.raw_path.decode()  # signed exactly as sent
    body = request.content.decode()
    assert (body == "") == (method == "GET")
    match = AUTHORIZATION_RE.match(request.headers["Authorization"])
    assert match is not None

    merchant_public = oracle.load_public_key(Path(gateway()["merchant_public_key_path"]).read_text())
    # rsa_verify checks "a\nb\nc\n"; the request message is "METHOD\nPATH\nTIMESTAMP\nNONCE\nBODY\n".
    assert oracle.rsa_verify(
        f"{method}\n{path}", match["timestamp"], f"{match['nonce']}\n{body}", match["signature"], merchant_public
    )
    assert not oracle.rsa_verify(
        f"{method}\n{path}", match["timestamp"], f"{match['nonce']}\n{body} ", match["signature"], merchant_public
    )

    monkeypatch.setattr(oracle, "time", SimpleNamespace(time=lambda: float(match["timestamp"])))
    theirs = oracle.build_authorization(
        path,
        method,
        merchant()["mchid"],
        merchant()["merchant_serial_no"],
        oracle.load_private_key(Path(merchant()["merchant_private_key_path"]).read_text()),
        data=body or None,
        nonce_str=match["nonce"],
    )
    assert theirs == request.headers["Authorization"]


def test_callback_signed_by_wechatpayv3_helpers_is_accepted_by_our_client_and_pays(
    pending: tuple[Order, Payment],
) -> None:
    # Issue 3 oracle: a callback signed with wechatpayv3's rsa_sign (platform key) is accepted by our verifier.
    # wechatpayv3 has no AES encrypt helper (only aes_decrypt), so the resource is sealed with cryptography's AESGCM.
    order, payment = pending
    plaintext = transaction_json(payment.out_trade_no, transaction_id="4200000000202505229999999999")
    body = envelope(seal(plaintext, key=apiv3_key()))
    timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
    private = oracle.load_private_key(Path(gateway()["private_key_path"]).read_text())
    headers = {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": oracle.rsa_sign(private, f"{timestamp}\n{nonce}\n{body.decode()}\n"),
        "Wechatpay-Serial": gateway()["public_key_id"],
        "Wechatpay-Signature-Type": SIGNATURE_TYPE,
    }
    assert oracle_wechatpay().callback(headers, body)["resource"] == plaintext  # the oracle agrees it is genuine

    envelope_seen, trade = online.wechatpay_client().verify_callback(headers, body)

    assert envelope_seen == json.loads(body)
    assert (trade.out_trade_no, trade.transaction_id, trade.trade_state, trade.amount_total) == (
        payment.out_trade_no,
        "4200000000202505229999999999",
        "SUCCESS",
        PRICE_FEN,
    )
    assert (trade.mchid, trade.appid) == (merchant()["mchid"], merchant()["appid"])
    assert post_callback(body, headers).status_code == 204
    assert state(order, payment).order_status == "paid"


def test_our_client_decrypts_the_sandbox_callback_exactly_as_wechatpayv3_does(
    pending: tuple[Order, Payment], lost_callbacks: list[int], django_capture_on_commit_callbacks: CaptureOnCommit
) -> None:
    # Issue 3 oracle: the sandbox's callback passes wechatpayv3's own verification, and our AES-256-GCM decryption
    # gives the same plaintext as its aes_decrypt; under a wrong key both refuse.
    _, payment = pending
    cashier_pay(payment, django_capture_on_commit_callbacks)
    body = Callback.objects.get().body.encode()
    headers = signed_headers(body)
    resource = json.loads(body)["resource"]

    theirs = oracle.aes_decrypt(
        resource["nonce"], resource["ciphertext"], resource["associated_data"], apiv3_key().decode()
    )
    ours = aes_gcm_decrypt(apiv3_key(), resource["nonce"], resource["associated_data"], resource["ciphertext"])

    assert theirs is not None and ours.decode() == theirs
    assert oracle_wechatpay().callback(headers, body)["resource"] == json.loads(theirs)
    _, trade = online.wechatpay_client().verify_callback(headers, body)
    decrypted = json.loads(theirs)
    assert (trade.out_trade_no, trade.transaction_id, trade.trade_state, trade.amount_total) == (
        decrypted["out_trade_no"],
        decrypted["transaction_id"],
        decrypted["trade_state"],
        decrypted["amount"]["total"],
    )
    assert trade.transaction_id == trade_of(payment).transaction_id

    wrong = secrets.token_hex(16)
    assert oracle.aes_decrypt(resource["nonce"], resource["ciphertext"], resource["associated_data"], wrong) is None
    with pytest.raises(SignatureInvalid):
        aes_gcm_decrypt(wrong.encode(), resource["nonce"], resource["associated_data"], resource["ciphertext"])


def test_wechatpayv3_refuses_what_our_client_refuses(pending: tuple[Order, Payment]) -> None:
    # Issue 3 oracle: a forged signature and a re-serialised body fail in both verifiers alike.
    _, payment = pending
    body = envelope(seal(transaction_json(payment.out_trade_no)))
    forged = sign_with(body, key=other_private_key())
    genuine = signed_headers(body)
    reserialised = json.dumps(json.loads(body), indent=1, ensure_ascii=False).encode()
    client = online.wechatpay_client()

    for headers, raw in ((forged, body), (genuine, reserialised)):
        assert oracle_wechatpay().callback(headers, raw) is None
        with pytest.raises(SignatureInvalid):
            client.verify_callback(headers, raw)
    assert oracle_wechatpay().callback(genuine, body) is not None
