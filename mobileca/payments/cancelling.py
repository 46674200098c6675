"""「取消订单」: the buyer cancels an order they have not paid. An online trade the gateway has shown is asked about
(it may have just been paid) and closed there first, as the auto-close does; only then is the order cancelled."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from mobileca.audit.services import Actor
from mobileca.core.clock import now
from mobileca.core.errors import Conflict
from mobileca.orders.models import Order, OrderStatus
from mobileca.payments.closing import payment_close_at_gateway
from mobileca.payments.locks import lock_payment_with_order
from mobileca.payments.models import Payment, PaymentStatus, VoucherStatus
from mobileca.payments.observe import Outcome, cancel_observation, payment_observe_locked


def _refuse_unless_cancellable(order: Order, payment: Payment) -> None:
    if order.status == OrderStatus.PAID:
        raise Conflict(_("该订单已支付，不能取消"), code="order_paid")
    if order.status != OrderStatus.PENDING_PAYMENT or payment.status != PaymentStatus.PENDING:
        raise Conflict(_("该订单已关闭或已取消，无需再取消"), code="order_not_pending")
    if payment.vouchers.filter(status=VoucherStatus.SUBMITTED).exists():
        # Money said to be on its way: cancelling now would turn it into a refund. Finance decides first.
        raise Conflict(
            _("该订单已上传汇款凭证，正在等待财务确认，不能取消。如需取消请联系客服。"), code="voucher_submitted"
        )


def order_cancel_by_buyer(*, order: Order, actor: Actor) -> Order:
    """Cancel a pending order of the caller's enterprise (the caller found it through ``access_order_by_no``).

    Refused with a ``Conflict`` (nothing changed) when it is paid, already closed, has a voucher waiting for finance,
    or its gateway cannot say now whether it was paid."""
    payment = Payment.objects.select_related("order").get(order=order)
    _refuse_unless_cancellable(order, payment)
    # Outside any lock: the gateway is asked (a payment found is applied at once) and the trade closed there.
    if not payment_close_at_gateway(payment=payment):
        order.refresh_from_db()
        if order.status == OrderStatus.PAID:
            raise Conflict(_("该订单刚刚已支付成功，不能取消。请前往「CA 续费申领」申领证书。"), code="order_paid")
        raise Conflict(_("暂时无法向支付通道确认该订单的支付状态，请稍后再试"), code="gateway_unsure")
    with transaction.atomic(durable=True):
        locked_order, locked_payment = lock_payment_with_order(payment.pk, order_id=order.pk)
        _refuse_unless_cancellable(locked_order, locked_payment)
        outcome = payment_observe_locked(
            order=locked_order,
            payment=locked_payment,
            observation=cancel_observation(locked_payment, now()),
            actor=actor,
        )
    if outcome != Outcome.CLOSED:
        raise Conflict(_("该订单已关闭或已取消，无需再取消"), code="order_not_pending")
    return locked_order
