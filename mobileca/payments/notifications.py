"""Gateway notifications (R1.7): Alipay ``trade_status_sync`` and WeChat Pay APIv3 callbacks.

Each is verified and checked against our own order (app, seller or merchant, trade number, amount) before anything is
stored, then applied through the one writer (``observe``). A refused one goes to ``RejectedNotification`` with a typed
reason (``Refusal``) and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mobileca.audit.services import Actor
from mobileca.core import inputs
from mobileca.core.clock import now
from mobileca.core.money import from_fen, to_fen
from mobileca.orders.models import PaymentChannel
from mobileca.payments.gateways.alipay import PAID_STATUSES
from mobileca.payments.gateways.signing import BadAmount, MalformedMessage, SignatureInvalid, StaleMessage
from mobileca.payments.gateways.wechatpay import WeChatPayClient, WeChatTrade
from mobileca.payments.models import Payment, RejectedNotification
from mobileca.payments.observe import Observation, Outcome, payment_observe
from mobileca.payments.online import alipay_client, wechatpay_client

log = logging.getLogger(__name__)
GATEWAY = Actor("gateway", "online")


class Refusal(StrEnum):
    """Why a notification was refused (kept in ``RejectedNotification.reason``)."""

    BAD_SIGNATURE = "bad_signature"
    STALE_TIMESTAMP = "stale_timestamp"
    MALFORMED = "malformed"
    WRONG_APP_ID = "wrong_app_id"
    WRONG_SELLER = "wrong_seller"
    WRONG_MERCHANT = "wrong_merchant"
    UNKNOWN_ORDER = "unknown_order"
    BAD_AMOUNT = "bad_amount"
    AMOUNT_MISMATCH = "amount_mismatch"
    # refused before the content could be read (issue 14): what Django would have answered with its own 400 page
    TOO_LARGE = "too_large"
    TOO_MANY_FIELDS = "too_many_fields"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class NotificationResult:
    accepted: bool
    outcome: Outcome | Refusal

    @property
    def unauthenticated(self) -> bool:
        """Refused because its signature does not verify (answered 401; a stale one, correctly signed, is a 400)."""
        return self.outcome == Refusal.BAD_SIGNATURE


_KEPT_HEADERS = ("content-type", "user-agent", "wechatpay-serial", "wechatpay-timestamp", "wechatpay-nonce")


def _clean(text: str, limit: int) -> str:
    return text.replace("\x00", "")[:limit]  # PostgreSQL text cannot hold NUL; forgers can send it


def _reject(
    channel: str,
    reason: Refusal,
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


def _payment_of(out_trade_no: str, channel: str) -> Payment | None:
    """The payment a notification names, with its order and product (one query, no lock: the amount is checked
    against it, and the write path decides on the status under its own locks)."""
    return Payment.objects.select_related("order__product").filter(out_trade_no=out_trade_no, channel=channel).first()


def notification_refuse_unread(
    *, channel: str, reason: Refusal, body: str, remote_addr: str, headers: Mapping[str, str] | None = None
) -> NotificationResult:
    """A notification refused before its content could be read (too large, too many fields, not decodable, not a
    form): recorded like any other refusal."""
    return _reject(channel, reason, out_trade_no="", remote_addr=remote_addr, body=body, headers=headers)


# Alipay's documented lengths (异步通知参数) of the fields we keep or key on.
_ALIPAY_BOUNDS = {
    "notify_id": 128,
    "trade_no": 64,
    "out_trade_no": 64,
    "app_id": 32,
    "seller_id": 30,
    "trade_status": 32,
    "notify_type": 64,
}


def _alipay_malformed(form: Mapping[str, str]) -> bool:
    """NUL anywhere, or a field we key on missing or past its documented length."""
    if any("\x00" in key or "\x00" in value for key, value in form.items()):
        return True
    if not form.get("notify_id") or not form.get("trade_no"):
        return True
    return any(len(form.get(name, "")) > bound for name, bound in _ALIPAY_BOUNDS.items())


def alipay_notification_receive(
    *, form: Mapping[str, str], remote_addr: str, charset: str = "utf-8"
) -> NotificationResult:
    """An Alipay ``trade_status_sync`` notification (its fields decoded from ``charset``). Only TRADE_SUCCESS /
    TRADE_FINISHED without refund fields pay."""
    out_trade_no = form.get("out_trade_no", "")
    body = "&".join(f"{key}={value}" for key, value in form.items())

    def reject(reason: Refusal) -> NotificationResult:
        return _reject(PaymentChannel.ALIPAY, reason, out_trade_no=out_trade_no, remote_addr=remote_addr, body=body)

    client = alipay_client()
    try:
        client.verify_notification(form, charset=charset)
    except SignatureInvalid:
        return reject(Refusal.BAD_SIGNATURE)
    if _alipay_malformed(form):
        return reject(Refusal.MALFORMED)
    if form.get("app_id") != client.config.app_id:
        return reject(Refusal.WRONG_APP_ID)
    if form.get("seller_id") != client.config.seller_id:
        return reject(Refusal.WRONG_SELLER)
    payment = _payment_of(out_trade_no, PaymentChannel.ALIPAY)
    if payment is None:
        return reject(Refusal.UNKNOWN_ORDER)
    try:
        # Number(9,2): digits, at most two decimals; no sign, exponent, blank, padding zero or full-width digit
        amount = inputs.amount(form.get("total_amount", ""))
    except inputs.BadInput:
        return reject(Refusal.BAD_AMOUNT)
    if amount != payment.amount:
        return reject(Refusal.AMOUNT_MISMATCH)
    status = form.get("trade_status", "")
    refund = any(form.get(field) for field in ("refund_fee", "gmt_refund", "out_biz_no"))
    kind = "paid" if status in PAID_STATUSES and not refund else "status"
    outcome = payment_observe(
        payment_id=payment.pk,
        observation=Observation(
            kind=kind,
            event_key=f"notify:{form['notify_id']}",
            amount=amount,
            at=now(),
            payload=dict(form),
            credit=kind == "paid",
            credit_ref=f"alipay:{form['trade_no']}",
        ),
        actor=GATEWAY,
        payment=payment,
    )
    return NotificationResult(True, outcome)


def wechatpay_notification_receive(*, headers: Mapping[str, str], body: bytes, remote_addr: str) -> NotificationResult:
    text = body.decode("utf-8", errors="replace")
    client = wechatpay_client()
    try:
        envelope, trade = client.verify_callback(headers, body)
    except (SignatureInvalid, MalformedMessage) as exc:
        if isinstance(exc, StaleMessage):
            reason = Refusal.STALE_TIMESTAMP
        elif isinstance(exc, BadAmount):
            reason = Refusal.BAD_AMOUNT
        elif isinstance(exc, MalformedMessage):
            reason = Refusal.MALFORMED
        else:
            reason = Refusal.BAD_SIGNATURE
        log.info("wechatpay callback refused: %s", exc)
        return _reject(
            PaymentChannel.WECHAT, reason, out_trade_no="", remote_addr=remote_addr, body=text, headers=headers
        )

    def reject(reason: Refusal) -> NotificationResult:
        return _reject(
            PaymentChannel.WECHAT,
            reason,
            out_trade_no=trade.out_trade_no,
            remote_addr=remote_addr,
            body=text,
            headers=headers,
        )

    if str(envelope.get("event_type", "")).startswith("REFUND."):
        return _wechatpay_refund_notice(envelope=envelope, trade=trade, client=client, reject=reject)
    if trade.mchid != client.config.mchid or trade.appid != client.config.appid:
        return reject(Refusal.WRONG_MERCHANT)
    payment = _payment_of(trade.out_trade_no, PaymentChannel.WECHAT)
    if payment is None:
        return reject(Refusal.UNKNOWN_ORDER)
    if trade.amount_total != to_fen(payment.amount) or trade.currency != "CNY":
        return reject(Refusal.AMOUNT_MISMATCH)
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
        payment=payment,
    )
    return NotificationResult(True, outcome)


def _wechatpay_refund_notice(
    *,
    envelope: Mapping[str, Any],
    trade: WeChatTrade,
    client: WeChatPayClient,
    reject: Callable[[Refusal], NotificationResult],
) -> NotificationResult:
    """A refund notice (its resource carries no appid): recorded for the refund flow, never a payment."""
    if trade.mchid != client.config.mchid:
        return reject(Refusal.WRONG_MERCHANT)
    payment = _payment_of(trade.out_trade_no, PaymentChannel.WECHAT)
    if payment is None:
        return reject(Refusal.UNKNOWN_ORDER)
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
        payment=payment,
    )
    return NotificationResult(True, outcome)
