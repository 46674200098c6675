"""One interface for every payment channel (Alipay, WeChat Pay, offline remittance) and ``channel_for(payment)``.

A channel asks its gateway and says what it heard as an ``Observation``; it never writes a payment (the writer in
``observe`` does) and is never called while a row lock is held. Gateway failures raise the ``GatewayError`` branch of
``core/errors.py``: ``RetryableGatewayError`` (try again later) or ``FinalGatewayError`` (the gateway refused).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

from mobileca.core.clock import now
from mobileca.core.errors import Conflict, FinalGatewayError, InvalidInput
from mobileca.core.money import from_fen, to_fen
from mobileca.orders.models import PaymentChannel
from mobileca.payments.gateways.alipay import PAID_STATUSES
from mobileca.payments.models import Payment
from mobileca.payments.observe import Observation
from mobileca.payments.online import alipay_client, gateway_expiry, wechatpay_client


def refund_request_no(payment: Payment) -> str:
    """The refund's request number, derived from the trade: a retry is the same refund at the gateway."""
    return f"RF{payment.out_trade_no}"


class Channel(Protocol):
    """What the platform asks of a payment channel."""

    online: bool

    def open(self, payment: Payment) -> str:
        """Create the trade at the gateway; the QR code content to show."""

    def page_pay_url(self, payment: Payment) -> str:
        """Where a desktop buyer pays in the gateway's own page."""

    def query(self, payment: Payment) -> Observation | None:
        """What the gateway says now, as an observation; ``None`` while it is not paid there."""

    def close(self, payment: Payment) -> None:
        """Close the trade at the gateway so that no one can pay it any more."""

    def refund(self, payment: Payment) -> str:
        """Give the money back through the gateway (once per payment); the refunded amount it reports."""


class AlipayChannel:
    online = True

    def open(self, payment: Payment) -> str:
        return alipay_client().precreate(**self._trade(payment))

    def page_pay_url(self, payment: Payment) -> str:
        """Back to the platform either way: after paying to the return page (which says 支付成功 once the order is
        paid), after giving up to the order's page (still payable)."""
        base = settings.MOBILECA_PUBLIC_URL.rstrip("/")
        return alipay_client().page_pay_url(
            **self._trade(payment),
            return_url=base + reverse("payments:alipay_return"),
            quit_url=base + reverse("payments:pay_quit", args=[payment.order.order_no]),
        )

    @staticmethod
    def _trade(payment: Payment) -> dict[str, Any]:
        return {
            "out_trade_no": payment.out_trade_no,
            "amount": payment.amount,
            "subject": payment.order.product_name,
            "expires_at": gateway_expiry(payment),
        }

    def query(self, payment: Payment) -> Observation | None:
        trade = alipay_client().query(out_trade_no=payment.out_trade_no)
        if trade is None or trade.trade_status not in PAID_STATUSES:
            return None
        return _paid(
            f"alipay:{trade.trade_no}", trade.trade_no, trade.total_amount, {"trade_status": trade.trade_status}
        )

    def close(self, payment: Payment) -> None:
        alipay_client().close(out_trade_no=payment.out_trade_no)

    def refund(self, payment: Payment) -> str:
        answer = alipay_client().refund(
            out_trade_no=payment.out_trade_no, amount=payment.amount, out_request_no=refund_request_no(payment)
        )
        return str(answer.get("refund_fee", ""))


class WeChatPayChannel:
    online = True

    def open(self, payment: Payment) -> str:
        return wechatpay_client().native(
            out_trade_no=payment.out_trade_no,
            amount_fen=to_fen(payment.amount),
            description=payment.order.product_name,
            expires_at=gateway_expiry(payment),
        )

    def page_pay_url(self, payment: Payment) -> str:
        raise Conflict(_("该订单不是在线支付订单"), code="not_online")  # Native pay: the QR code is the way

    def query(self, payment: Payment) -> Observation | None:
        trade = wechatpay_client().query(out_trade_no=payment.out_trade_no)
        if trade is None or trade.trade_state != "SUCCESS":
            return None
        if trade.currency != "CNY":
            raise FinalGatewayError(f"wechatpay query: currency {trade.currency!r}")
        return _paid(
            f"wechatpay:{trade.transaction_id}",
            trade.transaction_id,
            from_fen(trade.amount_total),
            {"trade_state": trade.trade_state},
        )

    def close(self, payment: Payment) -> None:
        wechatpay_client().close(out_trade_no=payment.out_trade_no)

    def refund(self, payment: Payment) -> str:
        fen = to_fen(payment.amount)
        answer = wechatpay_client().refund(
            out_trade_no=payment.out_trade_no, out_refund_no=refund_request_no(payment), refund_fen=fen, total_fen=fen
        )
        return f"{int(answer['amount']['refund']) / 100:.2f}"


class OfflineChannel:
    """Remittance by bank transfer: nothing to open or close at a gateway; the money shows on a bank statement."""

    online = False

    def open(self, payment: Payment) -> str:
        raise Conflict(_("该订单不是在线支付订单"), code="not_online")

    def page_pay_url(self, payment: Payment) -> str:
        raise Conflict(_("该订单不是在线支付订单"), code="not_online")

    def query(self, payment: Payment) -> Observation | None:
        return None

    def close(self, payment: Payment) -> None:
        return None

    def refund(self, payment: Payment) -> str:
        raise InvalidInput(_("该支付渠道请线下退款后登记退款说明"), code="refund_offline_only")


def _paid(credit_ref: str, trade_no: str, amount: Decimal, payload: dict[str, str]) -> Observation:
    """The gateway says this trade is paid: the money itself was seen (a credit), known by the gateway's number."""
    return Observation(
        kind="paid",
        event_key=f"query:{trade_no}",
        amount=amount,
        at=now(),
        payload=payload,
        credit=True,
        credit_ref=credit_ref,
    )


_CHANNELS: dict[str, Channel] = {
    PaymentChannel.ALIPAY: AlipayChannel(),
    PaymentChannel.WECHAT: WeChatPayChannel(),
    PaymentChannel.OFFLINE: OfflineChannel(),
}


def channel_for(payment: Payment) -> Channel:
    return _CHANNELS[payment.channel]
