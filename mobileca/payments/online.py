"""The online channels (R1.6, R1.7): Alipay and WeChat Pay on top of the one observation writer.

Network calls happen here, never while a row lock is held: the gateway is asked first, then what it said is
applied through ``services`` (which locks). Notifications are verified and checked against our own order (app,
seller or merchant, trade number, amount) before anything is stored; a refused one goes to ``RejectedNotification``
and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext as _

from mobileca.audit.services import Actor
from mobileca.core.clock import now
from mobileca.core.errors import Conflict, FinalGatewayError, GatewayError, RetryableGatewayError
from mobileca.core.money import from_fen, to_fen
from mobileca.orders.models import PaymentChannel
from mobileca.payments.gateways.alipay import PAID_STATUSES, AlipayClient, AlipayConfig
from mobileca.payments.gateways.signing import SignatureInvalid
from mobileca.payments.gateways.wechatpay import WeChatPayClient, WeChatPayConfig, WeChatTrade
from mobileca.payments.models import Payment, PaymentStatus, RejectedNotification
from mobileca.payments.services import Observation, Outcome, payment_observe, payment_open_record

log = logging.getLogger(__name__)
GATEWAY = Actor("gateway", "online")
# The gateway's own expiry is shorter than ours, so no one can pay at the gateway after we close (§7).
GATEWAY_MARGIN = timedelta(minutes=10)
RECENTLY_CLOSED = timedelta(days=1)


def http_client() -> httpx.Client:
    """How the platform reaches the gateways. Tests replace it with an in-process transport."""
    return httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))


def alipay_client() -> AlipayClient:
    return AlipayClient(_alipay_config(tuple(sorted(settings.MOBILECA_ALIPAY.items()))), http_factory=http_client)


def wechatpay_client() -> WeChatPayClient:
    return WeChatPayClient(
        _wechatpay_config(tuple(sorted(settings.MOBILECA_WECHATPAY.items()))), http_factory=http_client
    )


@lru_cache(maxsize=4)
def _alipay_config(items: tuple[tuple[str, str], ...]) -> AlipayConfig:
    """Keys are read once per configuration, not per notification."""
    conf = dict(items)
    return AlipayConfig(
        gateway_url=conf["gateway_url"],
        app_id=conf["app_id"],
        seller_id=conf["seller_id"],
        app_private_key_pem=Path(conf["app_private_key_path"]).read_bytes(),
        alipay_public_key_pem=Path(conf["alipay_public_key_path"]).read_bytes(),
        notify_url=conf["notify_url"],
        return_url=conf.get("return_url", ""),
    )


@lru_cache(maxsize=4)
def _wechatpay_config(items: tuple[tuple[str, str], ...]) -> WeChatPayConfig:
    conf = dict(items)
    return WeChatPayConfig(
        base_url=conf["base_url"],
        mchid=conf["mchid"],
        appid=conf["appid"],
        merchant_serial_no=conf["merchant_serial_no"],
        merchant_private_key_pem=Path(conf["merchant_private_key_path"]).read_bytes(),
        wechatpay_public_key_pem=Path(conf["public_key_path"]).read_bytes(),
        wechatpay_public_key_id=conf["public_key_id"],
        apiv3_key=Path(conf["apiv3_key_path"]).read_text().strip().encode(),
        notify_url=conf["notify_url"],
    )


# --- opening a payment ---------------------------------------------------------------------------------------


def payment_open_online(*, payment_id: int) -> Payment:
    """Ask the gateway for the QR code of a pending online payment (once; a reload shows the same code)."""
    payment = Payment.objects.select_related("order").get(pk=payment_id)
    if payment.qr_content or payment.status != PaymentStatus.PENDING:
        return payment
    expires_at = payment.order.expires_at - GATEWAY_MARGIN
    subject = payment.order.product_name
    if payment.channel == PaymentChannel.ALIPAY:
        qr = alipay_client().precreate(
            out_trade_no=payment.out_trade_no, amount=payment.amount, subject=subject, expires_at=expires_at
        )
    elif payment.channel == PaymentChannel.WECHAT:
        qr = wechatpay_client().native(
            out_trade_no=payment.out_trade_no,
            amount_fen=to_fen(payment.amount),
            description=subject,
            expires_at=expires_at,
        )
    else:
        raise Conflict(_("该订单不是在线支付订单"), code="not_online")
    return payment_open_record(payment_id=payment.pk, qr_content=qr, gateway_expires_at=expires_at)


def alipay_page_pay_url(*, payment: Payment) -> str:
    return alipay_client().page_pay_url(
        out_trade_no=payment.out_trade_no,
        amount=payment.amount,
        subject=payment.order.product_name,
        expires_at=payment.order.expires_at - GATEWAY_MARGIN,
    )


# --- notifications -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotificationResult:
    accepted: bool
    outcome: str  # an Outcome value, or the reason of a refusal


_KEPT_HEADERS = ("content-type", "user-agent", "wechatpay-serial", "wechatpay-timestamp", "wechatpay-nonce")


def _clean(text: str, limit: int) -> str:
    return text.replace("\x00", "")[:limit]  # PostgreSQL text cannot hold NUL; forgers can send it


def _reject(
    channel: str,
    reason: str,
    *,
    out_trade_no: str,
    remote_addr: str,
    body: str,
    headers: Mapping[str, str] | None = None,
) -> NotificationResult:
    kept = {key: _clean(value, 200) for key, value in (headers or {}).items() if key.lower() in _KEPT_HEADERS}
    RejectedNotification.objects.create(
        channel=channel,
        reason=reason,
        out_trade_no=_clean(out_trade_no, 64),
        remote_addr=_clean(remote_addr, 64),
        headers=kept,
        body=_clean(body, 4000),
        received_at=now(),
    )
    log.warning("refused %s notification for %r: %s", channel, out_trade_no[:64], reason)
    return NotificationResult(False, reason)


def alipay_notification_receive(*, form: Mapping[str, str], remote_addr: str) -> NotificationResult:
    """An Alipay ``trade_status_sync`` notification. Only TRADE_SUCCESS / TRADE_FINISHED without refund fields pay."""
    out_trade_no = form.get("out_trade_no", "")
    body = "&".join(f"{key}={value}" for key, value in form.items())

    def reject(reason: str) -> NotificationResult:
        return _reject(PaymentChannel.ALIPAY, reason, out_trade_no=out_trade_no, remote_addr=remote_addr, body=body)

    client = alipay_client()
    try:
        client.verify_notification(form)
    except SignatureInvalid:
        return reject("bad_signature")
    if not form.get("notify_id") or not form.get("trade_no"):
        return reject("malformed")
    if form.get("app_id") != client.config.app_id:
        return reject("wrong_app_id")
    if form.get("seller_id") != client.config.seller_id:
        return reject("wrong_seller")
    payment = Payment.objects.filter(out_trade_no=out_trade_no, channel=PaymentChannel.ALIPAY).first()
    if payment is None:
        return reject("unknown_order")
    try:
        amount = Decimal(form.get("total_amount", ""))
    except ArithmeticError:
        return reject("bad_amount")
    if amount != payment.amount:
        return reject("amount_mismatch")
    status = form.get("trade_status", "")
    refund = any(form.get(field) for field in ("refund_fee", "gmt_refund", "out_biz_no"))
    kind = "paid" if status in PAID_STATUSES and not refund else "status"
    outcome = payment_observe(
        payment_id=payment.pk,
        observation=Observation(
            kind=kind,
            event_key=f"notify:{form.get('notify_id', '')}",
            amount=amount,
            at=now(),
            payload=dict(form),
            credit=kind == "paid",
            credit_ref=f"alipay:{form.get('trade_no', '')}",
        ),
        actor=GATEWAY,
    )
    return NotificationResult(True, outcome.value)


def wechatpay_notification_receive(*, headers: Mapping[str, str], body: bytes, remote_addr: str) -> NotificationResult:
    text = body.decode("utf-8", errors="replace")
    client = wechatpay_client()
    try:
        envelope, trade = client.verify_callback(headers, body)
    except SignatureInvalid as exc:
        reason = "stale_timestamp" if "window" in str(exc) else "bad_signature"
        return _reject(
            PaymentChannel.WECHAT, reason, out_trade_no="", remote_addr=remote_addr, body=text, headers=headers
        )

    def reject(reason: str) -> NotificationResult:
        return _reject(
            PaymentChannel.WECHAT,
            reason,
            out_trade_no=trade.out_trade_no,
            remote_addr=remote_addr,
            body=text,
            headers=headers,
        )

    if not envelope.get("id") or not trade.out_trade_no:
        return reject("malformed")
    if str(envelope.get("event_type", "")).startswith("REFUND."):
        return _wechatpay_refund_notice(envelope=envelope, trade=trade, client=client, reject=reject)
    if trade.mchid != client.config.mchid or trade.appid != client.config.appid:
        return reject("wrong_merchant")
    payment = Payment.objects.filter(out_trade_no=trade.out_trade_no, channel=PaymentChannel.WECHAT).first()
    if payment is None:
        return reject("unknown_order")
    if trade.amount_total != to_fen(payment.amount) or trade.currency != "CNY":
        return reject("amount_mismatch")
    paid = envelope.get("event_type") == "TRANSACTION.SUCCESS" and trade.trade_state == "SUCCESS"
    outcome = payment_observe(
        payment_id=payment.pk,
        observation=Observation(
            kind="paid" if paid else "status",
            event_key=f"callback:{envelope.get('id', '')}",
            amount=from_fen(trade.amount_total),
            at=now(),
            payload={
                "event_type": envelope.get("event_type"),
                "trade_state": trade.trade_state,
                "transaction_id": trade.transaction_id,
            },
            credit=paid,
            credit_ref=f"wechatpay:{trade.transaction_id}",
        ),
        actor=GATEWAY,
    )
    return NotificationResult(True, outcome.value)


def _wechatpay_refund_notice(
    *,
    envelope: Mapping[str, Any],
    trade: WeChatTrade,
    client: WeChatPayClient,
    reject: Callable[[str], NotificationResult],
) -> NotificationResult:
    """A refund notice (its resource carries no appid): recorded for the refund flow, never a payment."""
    if trade.mchid != client.config.mchid:
        return reject("wrong_merchant")
    payment = Payment.objects.filter(out_trade_no=trade.out_trade_no, channel=PaymentChannel.WECHAT).first()
    if payment is None:
        return reject("unknown_order")
    outcome = payment_observe(
        payment_id=payment.pk,
        observation=Observation(
            kind="status",
            event_key=f"callback:{envelope.get('id', '')}",
            amount=None,
            at=now(),
            payload={"event_type": envelope.get("event_type")},
        ),
        actor=GATEWAY,
    )
    return NotificationResult(True, outcome.value)


# --- active query and close -----------------------------------------------------------------------------------


def _query_observation(payment: Payment) -> Observation | None:
    """What the gateway says now about a payment, as an observation; ``None`` if it is not paid there."""
    if payment.channel == PaymentChannel.ALIPAY:
        trade = alipay_client().query(out_trade_no=payment.out_trade_no)
        if trade is None or trade.trade_status not in PAID_STATUSES:
            return None
        return Observation(
            kind="paid",
            event_key=f"query:{trade.trade_no}",
            amount=trade.total_amount,
            at=now(),
            payload={"trade_status": trade.trade_status},
            credit=True,
            credit_ref=f"alipay:{trade.trade_no}",
        )
    wechat = wechatpay_client().query(out_trade_no=payment.out_trade_no)
    if wechat is None or wechat.trade_state != "SUCCESS":
        return None
    if wechat.currency != "CNY":
        raise FinalGatewayError(f"wechatpay query: currency {wechat.currency!r}")
    return Observation(
        kind="paid",
        event_key=f"query:{wechat.transaction_id}",
        amount=from_fen(wechat.amount_total),
        at=now(),
        payload={"trade_state": wechat.trade_state},
        credit=True,
        credit_ref=f"wechatpay:{wechat.transaction_id}",
    )


def payment_query(*, payment_id: int, actor: Actor) -> Outcome | None:
    """Ask the gateway about one payment and apply the answer (a lost notification is found this way)."""
    payment = Payment.objects.get(pk=payment_id)
    observation = _query_observation(payment)
    if observation is None:
        return None
    return payment_observe(payment_id=payment.pk, observation=observation, actor=actor)


def payments_query_pending(*, actor: Actor, older_than: timedelta = timedelta(seconds=30)) -> int:
    """The active query of pending online payments whose QR code was shown. Returns how many were found paid."""
    moment = now()
    due = Payment.objects.filter(
        Q(status=PaymentStatus.PENDING, qr_opened_at__lte=moment - older_than)
        # Closed in the last day: money paid as we closed, its notifications lost, is still found (as paid late).
        | Q(status=PaymentStatus.CLOSED, closed_at__gte=moment - RECENTLY_CLOSED),
        channel__in=[PaymentChannel.ALIPAY, PaymentChannel.WECHAT],
        qr_opened_at__isnull=False,
    ).values_list("pk", flat=True)
    found = 0
    for payment_id in due:
        try:
            found += payment_query(payment_id=payment_id, actor=actor) in (Outcome.PAID, Outcome.PAID_LATE)
        except GatewayError as exc:
            log.warning("query of payment %s failed: %r", payment_id, exc)
    return found


def gateway_close(*, payment: Payment) -> bool:
    """Before closing locally: query (it may have been paid), then close at the gateway. False: do not close yet."""
    if payment.channel not in (PaymentChannel.ALIPAY, PaymentChannel.WECHAT) or not payment.qr_content:
        return True
    try:
        observation = _query_observation(payment)
    except GatewayError as exc:
        # Not knowing whether it was paid, do not close: the next run asks again.
        log.warning("query before closing %s failed, will retry: %r", payment.out_trade_no, exc)
        return False
    if observation is not None:
        payment_observe(payment_id=payment.pk, observation=observation, actor=Actor("system", "auto-close"))
        return False
    try:
        if payment.channel == PaymentChannel.ALIPAY:
            alipay_client().close(out_trade_no=payment.out_trade_no)
        else:
            wechatpay_client().close(out_trade_no=payment.out_trade_no)
    except RetryableGatewayError as exc:
        log.warning("gateway close of %s failed, will retry: %r", payment.out_trade_no, exc)
        return False
    except FinalGatewayError as exc:
        # Refused: perhaps paid this very moment (ORDERPAID, TRADE_STATUS_ERROR). Ask once more; if it is not paid,
        # close locally all the same: money that still arrives is paid late and refunded, never lost.
        log.warning("gateway close of %s refused: %r", payment.out_trade_no, exc)
        try:
            observation = _query_observation(payment)
        except GatewayError:
            return False
        if observation is not None:
            payment_observe(payment_id=payment.pk, observation=observation, actor=Actor("system", "auto-close"))
            return False
    return True
