"""The Alipay channel end to end against its sandbox (R1.6, R1.7): precreate, the cashier, signed notifications,
the active query, auto-close at the gateway, money after close, and python-alipay-sdk as an independent oracle.

Notifications are posted form-encoded to ``/payments/notify/alipay/`` exactly as Alipay does. "Genuine" ones are
signed with the sandbox gateway's key (our own RSA code below, not the client's); forged ones with a fresh key.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from alipay import AliPay
from django.conf import settings
from django.test import Client
from huey.contrib.djhuey import HUEY

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.cards.models import Card
from mobileca.core.clock import now
from mobileca.core.errors import FinalGatewayError
from mobileca.core.ids import BEIJING
from mobileca.orders.models import Order
from mobileca.payments import notifications, opening
from mobileca.payments.closing import payments_close_expired
from mobileca.payments.gateways.alipay import AlipayClient
from mobileca.payments.gateways.signing import SignatureInvalid
from mobileca.payments.models import Payment, PaymentEvent, RejectedNotification
from mobileca.payments.notifications import NotificationResult, Refusal
from mobileca.payments.online import alipay_client
from mobileca.payments.query import payments_query_pending
from mobileca.sandboxes.alipay.models import Notification, Trade
from mobileca.sandboxes.alipay.tasks import deliver
from tests.support.gateways import (
    NOTIFY_URL,
    app_private_pem,
    app_public_pem,
    forger_private_pem,
    gateway_private_pem,
    gateway_public_pem,
    rsa2_sign,
    signed_notification,
)
from tests.support.payments import (
    AUTO_CLOSE,
    QUERY_JOB,
    alipay_checkout,
    expire,
    opened_alipay_order,
    paid_at_gateway_unnotified,
    payment_state,
    scan_and_pay,
)
from tests.support.platform import PRICE
from tests.transport import DjangoTestTransport


def notify(form: dict[str, str]) -> str:
    """POST a notification to the platform as Alipay does (form-encoded); the reply body."""
    response = Client().post(NOTIFY_URL, urlencode(form), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    return response.content.decode()


# --- orders, the cashier, snapshots -------------------------------------------------------------------------------


def events(payment: Payment) -> list[tuple[str, str, str]]:
    return list(payment.events.order_by("id").values_list("event_key", "kind", "outcome"))


def gateway_methods(transport: DjangoTestTransport) -> list[str]:
    """The ``method`` of every call the platform made to ``gateway.do``, in order."""
    return [
        dict(parse_qsl(request.content.decode()))["method"]
        for request in transport.requests
        if request.url.path.endswith("/gateway.do")
    ]


def with_status(form: dict[str, str], trade_status: str) -> dict[str, str]:
    """Another genuine notification for the same trade: new notify_id, same trade_no."""
    if form["trade_status"] == trade_status:
        return form
    return signed_notification(
        {
            **form,
            "trade_status": trade_status,
            "notify_id": secrets.token_hex(16),
            "notify_time": now().astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
        }
    )


# --- paying ------------------------------------------------------------------------------------------------------


def test_alipay_qr_paid_in_cashier_pays_the_order_once_and_the_sandbox_sees_success(
    bidder_client: Client, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    # R1.6: precreate QR → buyer pays in the cashier → signed notification → paid, card appears; reply `success`
    response = bidder_client.post(
        "/ca/purchase/mobile-ca/",
        {"region": "jiangxi", "channel": "alipay", "expected_amount": "300.00", "client_token": "t-1"},
    )
    order = Order.objects.get()
    assert "<svg" in bidder_client.get(response["Location"]).content.decode()
    payment = Payment.objects.get()
    trade = Trade.objects.get(out_trade_no=payment.out_trade_no)
    assert (trade.status, trade.total_amount, trade.seller_id) == ("PRECREATED", PRICE, "2088000000000001")

    with django_capture_on_commit_callbacks(execute=True):
        assert "支付成功" in scan_and_pay(payment.qr_content)

    notification = Notification.objects.get()
    assert notification.delivered_at is not None
    assert (notification.attempts, notification.last_answer) == (1, "success")
    order.refresh_from_db()
    payment.refresh_from_db()
    card = Card.objects.get()
    assert (order.status, order.card_id, card.source_order_no) == ("paid", card.pk, order.order_no)
    assert (payment.status, payment.paid_by_event) == ("paid", f"notify:{notification.notify_id}")
    assert payment.settled_by_event == f"alipay:{trade.trade_no}"
    assert events(payment) == [(f"notify:{notification.notify_id}", "paid", "paid")]
    assert RejectedNotification.objects.count() == 0
    done = f"/ca/orders/{order.order_no}/done/"
    assert bidder_client.get(f"/ca/orders/{order.order_no}/status/").json() == {"status": "paid", "next": done}
    arrived = bidder_client.get(done, follow=True)
    assert arrived.redirect_chain[-1][0] == "/ca/cards/" and "支付成功" in arrived.content.decode()


def test_duplicate_alipay_notification_is_acknowledged_and_pays_nothing_more(
    bidder: User, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    # R1.7: the same notify_id again (Alipay retries until it reads `success`) → inbox refuses it, one card
    order, payment = opened_alipay_order(bidder)
    with django_capture_on_commit_callbacks(execute=True):
        scan_and_pay(payment.qr_content)
    delivered = Notification.objects.get()
    assert delivered.delivered_at is not None
    before = payment_state(order, payment)

    assert notify(dict(delivered.form)) == "success"
    assert notify(dict(delivered.form)) == "success"

    assert payment_state(order, payment) == before
    assert (order.status, payment.status, Card.objects.count()) == ("paid", "paid", 1)
    assert events(payment) == [(f"notify:{delivered.notify_id}", "paid", "paid")]
    assert RejectedNotification.objects.count() == 0


@pytest.mark.parametrize(
    "statuses",
    [("TRADE_SUCCESS", "TRADE_FINISHED"), ("TRADE_FINISHED", "TRADE_SUCCESS")],
    ids=["success-then-finished", "finished-then-success"],
)
def test_two_alipay_notifications_for_one_trade_pay_once_in_either_order(
    bidder: User, finance_client: Client, statuses: tuple[str, str]
) -> None:
    # R1.7, §4: TRADE_SUCCESS and TRADE_FINISHED of one trade_no are the same money: paid once, no extra credit,
    # nothing for the refund list, whichever arrives first
    order, payment, genuine = paid_at_gateway_unnotified(bidder)
    first, second = (with_status(genuine, status) for status in statuses)
    assert first["notify_id"] != second["notify_id"] and first["trade_no"] == second["trade_no"]

    assert notify(first) == "success"
    paid = payment_state(order, payment)
    assert notify(second) == "success"

    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, payment.status, Card.objects.count()) == ("paid", "paid", 1)
    assert payment.paid_by_event == f"notify:{first['notify_id']}"
    assert events(payment) == [
        (f"notify:{first['notify_id']}", "paid", "paid"),
        (f"notify:{second['notify_id']}", "paid", "noop"),
    ]
    assert payment_state(order, payment)[:-3] == paid[:-3]  # only the inbox grew
    assert not AuditEvent.objects.filter(action__in=["payment.extra_credit", "payment.paid_late"]).exists()
    refunds_page = finance_client.get("/backoffice/remittances/").content.decode()
    assert "关闭后到账" not in refunds_page
    assert order.order_no not in refunds_page


# --- refusals ----------------------------------------------------------------------------------------------------

REFUSALS: dict[str, Callable[[dict[str, str]], dict[str, str]]] = {
    "bad_signature": lambda form: signed_notification(form, forger_private_pem()),
    "wrong_app_id": lambda form: signed_notification({**form, "app_id": "2021000000009999"}),
    "wrong_seller": lambda form: signed_notification({**form, "seller_id": "2088000000009999"}),
    "unknown_order": lambda form: signed_notification({**form, "out_trade_no": "20250522090000NOSUCHORDER"}),
    "amount_mismatch": lambda form: signed_notification(
        {**form, "total_amount": "0.01", "receipt_amount": "0.01", "buyer_pay_amount": "0.01"}
    ),
    "bad_amount": lambda form: signed_notification({**form, "total_amount": "三百元"}),
}


@pytest.mark.parametrize("reason", list(REFUSALS))
def test_refused_alipay_notification_replies_failure_is_recorded_and_changes_nothing(bidder: User, reason: str) -> None:
    # R1.7, §1: forged signature, another app, another seller, unknown order, wrong amount → refused, recorded,
    # the order unchanged
    order, payment, genuine = paid_at_gateway_unnotified(bidder)
    tampered = REFUSALS[reason](genuine)
    before = payment_state(order, payment)

    assert notify(tampered) == "failure"

    assert payment_state(order, payment) == before
    assert (order.status, payment.status, Card.objects.count(), PaymentEvent.objects.count()) == (
        "pending_payment",
        "pending",
        0,
        0,
    )
    rejected = RejectedNotification.objects.get()
    assert (rejected.channel, rejected.reason, rejected.out_trade_no) == ("alipay", reason, tampered["out_trade_no"])
    assert f"notify_id={genuine['notify_id']}" in rejected.body


def test_forged_alipay_notification_reusing_the_notify_id_does_not_block_the_genuine_one(bidder: User) -> None:
    # R1.7: a forgery that arrives first with the real notify_id must not occupy the inbox key of the real one
    order, payment, genuine = paid_at_gateway_unnotified(bidder)
    forged = signed_notification(genuine, forger_private_pem())
    assert forged["notify_id"] == genuine["notify_id"]
    before = payment_state(order, payment)

    assert notify(forged) == "failure"
    assert payment_state(order, payment) == before
    assert list(RejectedNotification.objects.values_list("reason", flat=True)) == ["bad_signature"]

    assert notify(genuine) == "success"
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, payment.status, Card.objects.count()) == ("paid", "paid", 1)
    assert events(payment) == [(f"notify:{genuine['notify_id']}", "paid", "paid")]


def test_partial_refund_alipay_notification_is_not_a_payment(
    bidder: User, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    # R1.7, §1: a partial refund notifies TRADE_SUCCESS with refund_fee/gmt_refund/out_biz_no: stored, acknowledged,
    # but it pays nothing
    order, payment, _genuine = paid_at_gateway_unnotified(bidder)
    before = payment_state(order, payment)

    with django_capture_on_commit_callbacks(execute=True):
        answer = alipay_client().refund(
            out_trade_no=payment.out_trade_no, amount=Decimal("100.00"), out_request_no="R-partial-1"
        )
    assert answer["fund_change"] == "Y"

    refund_notice = Notification.objects.get(form__out_biz_no="R-partial-1")
    form = refund_notice.form
    assert (form["trade_status"], form["refund_fee"], form["total_amount"]) == ("TRADE_SUCCESS", "100.00", "300.00")
    assert form["gmt_refund"]
    assert (refund_notice.attempts, refund_notice.last_answer) == (1, "success")
    assert refund_notice.delivered_at is not None
    after = payment_state(order, payment)
    assert after[:-2] == before[:-2]  # the inbox grew by one, nothing else
    assert (order.status, payment.status, Card.objects.count()) == ("pending_payment", "pending", 0)
    assert events(payment) == [(f"notify:{form['notify_id']}", "status", "noop")]
    assert RejectedNotification.objects.count() == 0


# --- lost notifications, sandbox retries --------------------------------------------------------------------------


def test_lost_alipay_notification_is_found_by_the_active_query_and_the_late_one_is_a_noop(
    bidder: User,
    monkeypatch: pytest.MonkeyPatch,
    gateway_transport: DjangoTestTransport,
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    # R1.7, §4: the notification cannot reach us; the query of pending payments finds the money; when the
    # notification finally arrives it is the same money, not a second payment
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    monkeypatch.setattr(
        "mobileca.sandboxes.common.http_client", lambda: httpx.Client(transport=httpx.MockTransport(unreachable))
    )
    order, payment = opened_alipay_order(bidder)
    with django_capture_on_commit_callbacks(execute=True):
        assert "支付成功" in scan_and_pay(payment.qr_content)
    notification = Notification.objects.get()
    assert (notification.attempts, notification.delivered_at) == (1, None)
    assert notification.last_answer.startswith("transport error")
    order.refresh_from_db()
    assert (order.status, Card.objects.count()) == ("pending_payment", 0)

    assert payments_query_pending(actor=QUERY_JOB, older_than=timedelta(0)) == 1

    trade = Trade.objects.get()
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, payment.status, Card.objects.count()) == ("paid", "paid", 1)
    assert events(payment) == [(f"query:{trade.trade_no}", "paid", "paid")]
    assert payment.settled_by_event == f"alipay:{trade.trade_no}"
    assert payments_query_pending(actor=QUERY_JOB, older_than=timedelta(0)) == 0  # no longer pending
    paid = payment_state(order, payment)

    monkeypatch.setattr("mobileca.sandboxes.common.http_client", lambda: httpx.Client(transport=gateway_transport))
    assert deliver(notification.pk) is True  # the sandbox's retry gets through

    notification.refresh_from_db()
    assert (notification.attempts, notification.last_answer) == (2, "success")
    assert payment_state(order, payment)[:-2] == paid[:-2]
    assert Card.objects.count() == 1
    assert events(payment)[1] == (f"notify:{notification.notify_id}", "paid", "noop")
    assert not AuditEvent.objects.filter(action="payment.extra_credit").exists()


def test_alipay_sandbox_retries_until_the_platform_answers_success(
    bidder: User, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    # §1: only the exact reply `success` acknowledges; anything else leaves the notification to be retried
    real_receive = notifications.alipay_notification_receive
    refused: list[str] = []

    def refuse_once(**kwargs: object) -> NotificationResult:
        if not refused:
            refused.append("once")
            return NotificationResult(False, Refusal.MALFORMED)
        return real_receive(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("mobileca.payments.notify_views.alipay_notification_receive", refuse_once)
    HUEY.storage.flush_schedule()
    order, payment = opened_alipay_order(bidder)
    with django_capture_on_commit_callbacks(execute=True):
        scan_and_pay(payment.qr_content)

    notification = Notification.objects.get()
    assert (notification.attempts, notification.delivered_at, notification.last_answer) == (1, None, "failure")
    retries = [task for task in HUEY.scheduled() if task.name.endswith("deliver_with_retries")]
    assert [task.args for task in retries] == [(notification.pk,)]
    HUEY.storage.flush_schedule()
    order.refresh_from_db()
    assert (order.status, Card.objects.count()) == ("pending_payment", 0)

    assert deliver(notification.pk) is True

    notification.refresh_from_db()
    assert notification.delivered_at is not None
    assert (notification.attempts, notification.last_answer) == (2, "success")
    order.refresh_from_db()
    assert (order.status, Card.objects.count()) == ("paid", 1)
    assert deliver(notification.pk) is True  # delivered: not posted again
    notification.refresh_from_db()
    assert notification.attempts == 2


# --- auto-close and money after close -----------------------------------------------------------------------------


def test_expired_alipay_order_is_queried_then_closed_at_the_gateway_and_locally(
    bidder: User,
    bidder_client: Client,
    gateway_transport: DjangoTestTransport,
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    # R1.6, §4: at expiry query, then close at the gateway (a never-scanned precreate "fails" but is blocked),
    # then close locally; the QR code can no longer be paid
    order, payment = alipay_checkout(bidder)
    assert bidder_client.get(f"/ca/orders/{order.order_no}/pay/").status_code == 200
    payment.refresh_from_db()
    assert payment.qr_content
    expire(order)

    assert payments_close_expired(actor=AUTO_CLOSE) == 1

    assert gateway_methods(gateway_transport) == ["alipay.trade.precreate", "alipay.trade.query", "alipay.trade.close"]
    trade = Trade.objects.get(out_trade_no=payment.out_trade_no)
    assert (trade.status, trade.closed_before_scan) == ("TRADE_CLOSED", True)
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, payment.status, order.card_id) == ("closed", "closed", None)
    assert events(payment) == [(f"close:{payment.out_trade_no}", "closed", "closed")]
    closed = payment_state(order, payment)

    with django_capture_on_commit_callbacks(execute=True):
        page = scan_and_pay(payment.qr_content)

    assert "支付成功" not in page
    assert "交易关闭" in page
    trade.refresh_from_db()
    assert (trade.status, trade.paid_at) == ("TRADE_CLOSED", None)
    assert Notification.objects.count() == 0
    assert payment_state(order, payment) == closed


def test_expired_alipay_order_paid_at_the_gateway_is_paid_not_closed(bidder: User) -> None:
    # R1.7, §4: the notification was lost; the close job's query finds the money first: paid, never closed
    order, payment, _genuine = paid_at_gateway_unnotified(bidder)
    expire(order)

    assert payments_close_expired(actor=AUTO_CLOSE) == 0

    trade = Trade.objects.get()
    assert trade.status == "TRADE_SUCCESS"
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, order.closed_at, payment.status, payment.closed_at) == ("paid", None, "paid", None)
    assert Card.objects.count() == 1
    assert events(payment) == [(f"query:{trade.trade_no}", "paid", "paid")]
    assert payments_close_expired(actor=AUTO_CLOSE) == 0


def test_alipay_payment_after_our_order_closed_is_paid_late_and_listed_for_refund(
    bidder: User,
    finance_client: Client,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    # R1.7, §4: the gateway would not close, we closed locally anyway; the buyer then pays: real money, recorded
    # as paid late and queued for refund, no card
    def close_refused(self: AlipayClient, *, out_trade_no: str) -> None:
        raise FinalGatewayError("alipay.trade.close refused (test)")

    monkeypatch.setattr(AlipayClient, "close", close_refused)
    order, payment = opened_alipay_order(bidder)
    expire(order)
    assert payments_close_expired(actor=AUTO_CLOSE) == 1
    order.refresh_from_db()
    assert order.status == "closed"
    assert Trade.objects.get().status == "PRECREATED"  # still payable at the gateway

    with django_capture_on_commit_callbacks(execute=True):
        assert "支付成功" in scan_and_pay(payment.qr_content)

    notification = Notification.objects.get()
    assert (notification.attempts, notification.last_answer) == (1, "success")
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, order.paid_at, order.card_id) == ("closed", None, None)
    assert (payment.status, payment.paid_by_event) == ("paid_late", f"notify:{notification.notify_id}")
    assert Card.objects.count() == 0
    assert events(payment) == [
        (f"close:{payment.out_trade_no}", "closed", "closed"),
        (f"notify:{notification.notify_id}", "paid", "paid_late"),
    ]
    assert AuditEvent.objects.filter(action="payment.paid_late", subject=f"payment:{payment.out_trade_no}").count() == 1
    refunds_page = finance_client.get("/backoffice/remittances/").content.decode()
    assert "关闭后到账" in refunds_page
    assert order.order_no in refunds_page


# --- oracles: python-alipay-sdk 3.4.0 ------------------------------------------------------------------------------


def sdk(*, private_pem: bytes, public_pem: bytes) -> AliPay:
    return AliPay(
        appid=settings.MOBILECA_ALIPAY["app_id"],
        app_private_key_string=private_pem.decode(),
        alipay_public_key_string=public_pem.decode(),
        sign_type="RSA2",
    )


def sdk_signing_string(oracle: AliPay, data: dict[str, str]) -> str:
    return "&".join(f"{key}={value}" for key, value in oracle._ordered_data(dict(data)))


@pytest.mark.parametrize("method", ["alipay.trade.precreate", "alipay.trade.page.pay"])
def test_python_alipay_sdk_verifies_what_our_client_signs(method: str) -> None:
    # Oracle (issue 3): a request our client signs verifies with the SDK under the app's public key, and the SDK
    # signing the same parameters with the app key produces the very same signature (PKCS#1 v1.5 is deterministic).
    # The SDK's verify() drops sign_type (it is for notifications), but a request signature covers sign_type, so
    # the request check goes through the SDK's own ordering and _verify.
    biz = {
        "out_trade_no": "20250522090000ABCDEF",
        "total_amount": "300.00",
        "subject": "移动CA证书 & “签章”",
        "seller_id": "2088000000000001",
        "time_expire": "2025-05-22 10:50:00",
    }
    if method == "alipay.trade.page.pay":
        biz["product_code"] = "FAST_INSTANT_TRADE_PAY"
    params = alipay_client().signed_params(method, biz, at=datetime(2025, 5, 22, 9, 0, tzinfo=BEIJING))
    assert params["timestamp"] == "2025-05-22 09:00:00"
    oracle = sdk(private_pem=app_private_pem(), public_pem=app_public_pem())
    unsigned = {key: value for key, value in params.items() if key != "sign"}

    assert oracle._verify(sdk_signing_string(oracle, unsigned), params["sign"]) is True
    assert dict(parse_qsl(oracle.sign_data(dict(unsigned))))["sign"] == params["sign"]
    tampered = {**unsigned, "biz_content": unsigned["biz_content"].replace("300.00", "0.01")}
    assert oracle._verify(sdk_signing_string(oracle, tampered), params["sign"]) is False


def test_python_alipay_sdk_verifies_the_signed_page_pay_url(bidder: User) -> None:
    # Oracle: the URL the buyer's browser is sent to (alipay.trade.page.pay) decodes to parameters the SDK verifies
    _order, payment = alipay_checkout(bidder)
    url = opening.alipay_page_pay_url(payment=payment)
    assert url.startswith(settings.MOBILECA_ALIPAY["gateway_url"] + "?")
    params = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    assert params["method"] == "alipay.trade.page.pay"
    assert json.loads(params["biz_content"])["out_trade_no"] == payment.out_trade_no
    oracle = sdk(private_pem=app_private_pem(), public_pem=app_public_pem())
    unsigned = {key: value for key, value in params.items() if key != "sign"}
    assert oracle._verify(sdk_signing_string(oracle, unsigned), params["sign"]) is True


def test_our_client_and_the_platform_accept_a_notification_signed_by_python_alipay_sdk(bidder: User) -> None:
    # Oracle (issue 3): a notification signed by the SDK with the gateway's key verifies with our client and pays;
    # and what the sandbox sends verifies with the SDK (both sides of our implementation checked by a third party)
    order, payment, sandbox_form = paid_at_gateway_unnotified(bidder)
    gateway_sdk = sdk(private_pem=gateway_private_pem(), public_pem=gateway_public_pem())
    assert gateway_sdk.verify({k: v for k, v in sandbox_form.items() if k != "sign"}, sandbox_form["sign"]) is True

    unsigned = {key: value for key, value in sandbox_form.items() if key not in ("sign", "sign_type")}
    unsigned["notify_id"] = secrets.token_hex(16)
    sdk_sign = gateway_sdk._sign(sdk_signing_string(gateway_sdk, unsigned))
    form = {**unsigned, "sign_type": "RSA2", "sign": sdk_sign}

    assert alipay_client().verify_notification(form) == form
    with pytest.raises(SignatureInvalid):
        alipay_client().verify_notification({**form, "total_amount": "0.01"})
    assert notify(form) == "success"
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, payment.status, payment.paid_by_event) == ("paid", "paid", f"notify:{unsigned['notify_id']}")


class RewritingTransport(httpx.BaseTransport):
    """Hands requests to the sandbox and lets the test rewrite the raw answer body (a man in the middle)."""

    def __init__(self, inner: httpx.BaseTransport, rewrite: Callable[[str], str]) -> None:
        self.inner, self.rewrite = inner, rewrite
        self.bodies: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        body = response.read().decode()
        self.bodies.append(body)
        return httpx.Response(
            response.status_code,
            headers={"Content-Type": response.headers["content-type"]},
            content=self.rewrite(body).encode(),
        )


def rewriting_client(
    monkeypatch: pytest.MonkeyPatch, transport: DjangoTestTransport, rewrite: Callable[[str], str]
) -> tuple[AlipayClient, RewritingTransport]:
    rewriting = RewritingTransport(transport, rewrite)
    monkeypatch.setattr("mobileca.payments.online.http_client", lambda: httpx.Client(transport=rewriting))
    return alipay_client(), rewriting


def test_raw_alipay_response_verification_accepts_the_sandbox_answer_and_refuses_reserialised_json(
    bidder: User, monkeypatch: pytest.MonkeyPatch, gateway_transport: DjangoTestTransport
) -> None:
    # §1: the signature covers the raw text of *_response; the SDK agrees on the untouched answer; the same JSON
    # re-serialised with other spacing is not what was signed
    _order, payment, _genuine = paid_at_gateway_unnotified(bidder)
    client, untouched = rewriting_client(monkeypatch, gateway_transport, lambda body: body)

    trade = client.query(out_trade_no=payment.out_trade_no)

    assert trade is not None
    assert (trade.out_trade_no, trade.trade_status, trade.total_amount) == (
        payment.out_trade_no,
        "TRADE_SUCCESS",
        PRICE,
    )
    oracle = sdk(private_pem=app_private_pem(), public_pem=gateway_public_pem())
    raw = untouched.bodies[-1]
    assert oracle._verify_and_return_sync_response(raw, "alipay_trade_query_response")["trade_no"] == trade.trade_no

    def respaced(body: str) -> str:
        return json.dumps(json.loads(body), ensure_ascii=False, separators=(", ", ": "))

    client, _ = rewriting_client(monkeypatch, gateway_transport, respaced)
    assert respaced(raw) != raw and json.loads(respaced(raw)) == json.loads(raw)
    with pytest.raises(SignatureInvalid):
        client.query(out_trade_no=payment.out_trade_no)


# --- the client against the sandbox ------------------------------------------------------------------------------


def test_alipay_query_of_a_precreated_never_scanned_trade_is_none(bidder: User) -> None:
    # §1 precreate pitfall: the trade exists only once scanned; before that query says ACQ.TRADE_NOT_EXIST
    _order, payment = opened_alipay_order(bidder)
    assert Trade.objects.get().status == "PRECREATED"

    assert alipay_client().query(out_trade_no=payment.out_trade_no) is None

    Client().get(payment.qr_content)  # scanned
    trade = alipay_client().query(out_trade_no=payment.out_trade_no)
    assert trade is not None
    assert (trade.trade_status, trade.total_amount) == ("WAIT_BUYER_PAY", PRICE)


def test_alipay_refund_of_a_paid_trade_changes_funds(bidder: User) -> None:
    # §1: alipay.trade.refund with out_request_no; fund_change=Y means the money moved
    _order, payment, genuine = paid_at_gateway_unnotified(bidder)

    answer = alipay_client().refund(out_trade_no=payment.out_trade_no, amount=PRICE, out_request_no="R-full-1")

    assert answer["code"] == "10000"
    assert (answer["fund_change"], answer["refund_fee"], answer["trade_no"]) == ("Y", "300.00", genuine["trade_no"])
    trade = Trade.objects.get()
    assert (trade.status, trade.refund_fee) == ("TRADE_CLOSED", PRICE)


def _forge_sign(body: str) -> str:
    answer = json.loads(body)
    forged = rsa2_sign(forger_private_pem(), "anything")
    return body.replace(answer["sign"], forged)


def _tamper_amount(body: str) -> str:
    return body.replace('"total_amount":"300.00"', '"total_amount":"0.01"')


@pytest.mark.parametrize("rewrite", [_forge_sign, _tamper_amount], ids=["signed-by-another-key", "amount-changed"])
def test_alipay_response_with_tampered_signature_raises_signature_invalid(
    bidder: User,
    monkeypatch: pytest.MonkeyPatch,
    gateway_transport: DjangoTestTransport,
    rewrite: Callable[[str], str],
) -> None:
    # §1: a synchronous answer whose signature does not cover its *_response text is refused
    _order, payment, _genuine = paid_at_gateway_unnotified(bidder)
    client, rewriting = rewriting_client(monkeypatch, gateway_transport, rewrite)

    with pytest.raises(SignatureInvalid):
        client.query(out_trade_no=payment.out_trade_no)

    assert rewrite(rewriting.bodies[-1]) != rewriting.bodies[-1]


def test_unsigned_alipay_error_answer_is_not_taken_for_trade_not_exist(
    bidder: User, monkeypatch: pytest.MonkeyPatch, gateway_transport: DjangoTestTransport
) -> None:
    # §1: an `error_response` may be unsigned, so nothing in it can be believed but that the call failed; "the trade
    # does not exist" (None) is a statement about the trade and must come from a signed answer
    _order, payment, _genuine = paid_at_gateway_unnotified(bidder)
    unsigned = json.dumps(
        {"error_response": {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST"}}
    )
    client, _ = rewriting_client(monkeypatch, gateway_transport, lambda body: unsigned)

    with pytest.raises(FinalGatewayError):
        client.query(out_trade_no=payment.out_trade_no)


def test_signed_alipay_query_answer_for_another_trade_does_not_pay_this_order(
    bidder: User,
    monkeypatch: pytest.MonkeyPatch,
    gateway_transport: DjangoTestTransport,
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    # R1.7, §4: only an authenticated query *of this trade* proves payment. Every order costs ¥300.00, so a genuine
    # signed answer about another paid trade, replayed, passes the signature and the amount checks; its out_trade_no
    # must be checked as precreate's is
    paid_order, paid_payment, _genuine = paid_at_gateway_unnotified(bidder)
    client, recorder = rewriting_client(monkeypatch, gateway_transport, lambda body: body)
    assert client.query(out_trade_no=paid_payment.out_trade_no) is not None
    replayed = recorder.bodies[-1]
    order, payment = opened_alipay_order(bidder, token="ali-2")
    before = payment_state(order, payment)
    rewriting_client(monkeypatch, gateway_transport, lambda body: replayed)  # every query gets the paid trade's answer

    payments_query_pending(actor=QUERY_JOB, older_than=timedelta(0))

    assert payment_state(order, payment)[:-3] == before[:-3]  # the other order's card and events are counted there
    assert (order.status, payment.status, events(payment)) == ("pending_payment", "pending", [])
    paid_order.refresh_from_db()
    assert (paid_order.status, Card.objects.count()) == ("paid", 1)  # the answer is right for its own trade
