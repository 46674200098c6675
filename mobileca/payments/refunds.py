"""Refunds (issue 9): a payment that arrived after its order closed (``paid_late``), or the payment of an order the
buyer cancelled, is refunded once — through the channel's refund API (Alipay ``alipay.trade.refund``, WeChat Pay
``/v3/refund/domestic/refunds``; the request number derived from the trade makes a retry the same refund at the
gateway), or marked refunded offline (remittances: a bank transfer back) — and the buyer is told.

Finance reaches a refund through two doors: the refunds page (``payment_refund``) and 退回 on the statement line
that brought late money (``statements.statement_line_return``). Both record it through ``payment_refund_record``,
in either order, once.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from mobileca.accounts.models import User
from mobileca.audit.services import Actor
from mobileca.core.clock import now
from mobileca.core.errors import Conflict
from mobileca.notices.services import notify
from mobileca.orders.models import Order, OrderStatus
from mobileca.payments.channels import channel_for, refund_request_no
from mobileca.payments.locks import lock_payment_with_order
from mobileca.payments.models import LineStatus, Payment, PaymentStatus, Refund, StatementLine
from mobileca.payments.transitions import payment_status_move, statement_line_status_move


def refundable(payment: Payment) -> bool:
    """Late money, or the payment of an order the buyer cancelled (a physical CA not yet dispatched)."""
    return payment.status == PaymentStatus.PAID_LATE or (
        payment.status == PaymentStatus.PAID and payment.order.status == OrderStatus.CANCELLED
    )


def refund_refusal(payment: Payment) -> None:
    """Why this payment needs no refund, raised; nothing when it does (the refund and the back office's
    confirmation page ask it alike)."""
    if not refundable(payment):
        raise Conflict(_("只有关闭后到账的款项或已取消订单的款项需要退款"), code="not_refundable")


def payment_refund(*, payment_id: int, operator: User, offline_note: str = "") -> Refund:
    """Refund a late payment once. Online (Alipay, WeChat Pay) unless ``offline_note`` says how it was paid back."""
    payment = Payment.objects.select_related("order").get(pk=payment_id)
    existing = Refund.objects.filter(payment=payment).first()
    if existing is not None:
        return existing  # refunded already: nothing more happens
    refund_refusal(payment)
    offline_note = offline_note.strip()
    method = "offline" if offline_note else "api"
    # before any lock; a retry with the same request number is the same refund at the gateway
    fee = channel_for(payment).refund(payment) if method == "api" else ""
    with transaction.atomic(durable=True):
        order, payment = lock_payment_with_order(payment.pk)
        return payment_refund_record(
            order=order,
            payment=payment,
            method=method,
            note=offline_note,
            fee=fee,
            operator=operator,
            actor=Actor("operator", str(operator.pk)),
        )


def payment_refund_record(
    *, order: Order, payment: Payment, method: str, note: str, fee: str, operator: User, actor: Actor
) -> Refund:
    """The one refund writer: the payment moves to refunded, one ``Refund`` row, the statement line that brought
    the late money is returned, the buyer is told. A second call (the other door) changes nothing and returns the
    first refund. The caller holds the order and payment locks (``locks.lock_payment_with_order``)."""
    existing = Refund.objects.filter(payment=payment).first()
    if existing is not None:
        _lines_return(order=order, payment=payment, note=existing.note or note, actor=actor)
        return existing
    refund_refusal(payment)
    refund = Refund.objects.create(
        payment=payment,
        out_request_no=refund_request_no(payment),
        amount=payment.amount,
        method=method,
        note=note[:200],
        gateway_refund_fee=fee[:20],
        created_by=operator,
        created_at=now(),
    )
    payment_status_move(
        order=order,
        payment=payment,
        target=PaymentStatus.REFUNDED,
        actor=actor,
        action="payment.refunded",
        data={"method": method, "amount": str(payment.amount), "request": refund.out_request_no},
    )
    _lines_return(order=order, payment=payment, note=note, actor=actor)
    notify(
        enterprise_id=order.enterprise_id,
        kind="payment_refunded",
        title=_("款项已退回"),
        body=_("订单 {order} 的 ¥{amount} 已退回（{how}）。").format(
            order=order.order_no,
            amount=payment.amount,
            how=_("原路退回") if method == "api" else note[:60],
        ),
    )
    return refund


def _lines_return(*, order: Order, payment: Payment, note: str, actor: Actor) -> None:
    """The bank credit that brought the late money is the money given back: it leaves finance's to-refund list."""
    lines = StatementLine.objects.select_for_update().filter(payment=payment, status=LineStatus.PAID_LATE)
    for line in lines.order_by("pk"):
        statement_line_status_move(
            line=line,
            target=LineStatus.RETURNED,
            note=note or "原路退回",
            actor=actor,
            payment=payment,
            enterprise_id=order.enterprise_id,
        )
