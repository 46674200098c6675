"""Refunds (issue 9): a payment that arrived after its order closed (``paid_late``), or the payment of an order the
buyer cancelled, is refunded once — through the channel's refund API (Alipay ``alipay.trade.refund``, WeChat Pay
``/v3/refund/domestic/refunds``; the request number derived from the trade makes a retry the same refund at the
gateway), or marked refunded offline (remittances: a bank transfer back) — and the buyer is told."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from mobileca.accounts.models import User
from mobileca.audit.services import Actor, audit_record
from mobileca.core.clock import now
from mobileca.core.errors import Conflict, InvalidInput
from mobileca.core.states import ensure_transition
from mobileca.notices.services import notify
from mobileca.orders.models import OrderStatus, PaymentChannel
from mobileca.payments.locks import lock_payment_with_order
from mobileca.payments.models import PAYMENT_TRANSITIONS, Payment, PaymentStatus, Refund


def refundable(payment: Payment) -> bool:
    """Late money, or the payment of an order the buyer cancelled (a physical CA not yet dispatched)."""
    return payment.status == PaymentStatus.PAID_LATE or (
        payment.status == PaymentStatus.PAID and payment.order.status == OrderStatus.CANCELLED
    )


def _request_no(payment: Payment) -> str:
    return f"RF{payment.out_trade_no}"


def payment_refund(*, payment_id: int, operator: User, offline_note: str = "") -> Refund:
    """Refund a late payment once. Online (Alipay) unless ``offline_note`` says how it was paid back."""
    payment = Payment.objects.select_related("order").get(pk=payment_id)
    existing = Refund.objects.filter(payment=payment).first()
    if existing is not None:
        return existing  # refunded already: nothing more happens
    if not refundable(payment):
        raise Conflict(_("只有关闭后到账的款项或已取消订单的款项需要退款"), code="not_refundable")
    offline_note = offline_note.strip()
    method = "offline" if offline_note else "api"
    if method == "api" and payment.channel not in (PaymentChannel.ALIPAY, PaymentChannel.WECHAT):
        raise InvalidInput(_("该支付渠道请线下退款后登记退款说明"), code="refund_offline_only")
    fee = ""
    if method == "api":
        # before any lock; a retry with the same request number is the same refund at the gateway
        from mobileca.core.money import to_fen
        from mobileca.payments.online import alipay_client, wechatpay_client

        if payment.channel == PaymentChannel.ALIPAY:
            answer = alipay_client().refund(
                out_trade_no=payment.out_trade_no, amount=payment.amount, out_request_no=_request_no(payment)
            )
            fee = str(answer.get("refund_fee", ""))
        else:
            fen = to_fen(payment.amount)
            answer = wechatpay_client().refund(
                out_trade_no=payment.out_trade_no, out_refund_no=_request_no(payment), refund_fen=fen, total_fen=fen
            )
            fee = f"{int(answer['amount']['refund']) / 100:.2f}"
    with transaction.atomic(durable=True):
        order, payment = lock_payment_with_order(payment.pk)
        existing = Refund.objects.filter(payment=payment).first()
        if existing is not None:
            return existing
        if not refundable(payment):
            raise Conflict(_("只有关闭后到账的款项或已取消订单的款项需要退款"), code="not_refundable")
        ensure_transition(PAYMENT_TRANSITIONS, payment.status, PaymentStatus.REFUNDED)
        payment.status = PaymentStatus.REFUNDED
        payment.save(update_fields=["status"])
        refund = Refund.objects.create(
            payment=payment,
            out_request_no=_request_no(payment),
            amount=payment.amount,
            method=method,
            note=offline_note[:200],
            gateway_refund_fee=fee[:20],
            created_by=operator,
            created_at=now(),
        )
        audit_record(
            action="payment.refunded",
            subject=f"payment:{payment.out_trade_no}",
            actor=Actor("operator", str(operator.pk)),
            enterprise_id=order.enterprise_id,
            data={"method": method, "amount": str(payment.amount), "request": refund.out_request_no},
        )
        notify(
            enterprise_id=order.enterprise_id,
            kind="payment_refunded",
            title=_("款项已退回"),
            body=_("订单 {order} 的 ¥{amount} 已退回（{how}）。").format(
                order=order.order_no,
                amount=payment.amount,
                how=_("原路退回") if method == "api" else offline_note[:60],
            ),
        )
    return refund
