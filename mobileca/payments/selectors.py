"""Payment reads for the pages: the buyer's late payments, finance's queues (remittances, statements, refunds)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from mobileca.accounts.models import Enterprise
from mobileca.core.errors import NotFound
from mobileca.orders.models import Order, OrderStatus, PaymentChannel
from mobileca.payments.models import (
    LineStatus,
    Payment,
    PaymentStatus,
    RemittanceVoucher,
    StatementImport,
    StatementLine,
)


def payment_list_late_for_enterprise(*, enterprise: Enterprise) -> QuerySet[Payment]:
    """Money that arrived after its order closed, refunded or still to be refunded: the buyer sees where it is."""
    return (
        Payment.objects.select_related("order")
        .filter(order__enterprise=enterprise, status__in=[PaymentStatus.PAID_LATE, PaymentStatus.REFUNDED])
        .order_by("-created_at")
    )


def payment_list_remittances_waiting() -> QuerySet[Payment]:
    return (
        Payment.objects.filter(channel=PaymentChannel.OFFLINE, status=PaymentStatus.PENDING)
        .select_related("order__enterprise", "order__region")
        .prefetch_related("vouchers")
        .order_by("created_at")
    )


def payment_list_paid_late() -> QuerySet[Payment]:
    return Payment.objects.filter(status=PaymentStatus.PAID_LATE).select_related("order__enterprise")


def payment_list_refund_due() -> QuerySet[Payment]:
    """Late money, and the payments of orders the buyer cancelled (``refunds.refundable``), oldest first."""
    return (
        Payment.objects.select_related("order", "order__enterprise")
        .filter(Q(status=PaymentStatus.PAID_LATE) | Q(status=PaymentStatus.PAID, order__status=OrderStatus.CANCELLED))
        .order_by("created_at")
    )


def payment_list_refunded() -> QuerySet[Payment]:
    return (
        Payment.objects.select_related("order", "order__enterprise", "refund")
        .filter(status=PaymentStatus.REFUNDED)
        .order_by("-created_at")
    )


def voucher_get(*, voucher_id: int) -> RemittanceVoucher:
    voucher = RemittanceVoucher.objects.filter(pk=voucher_id).first()
    if voucher is None:
        raise NotFound(_("未找到该凭证"))
    return voucher


def statement_import_list_recent() -> QuerySet[StatementImport]:
    return StatementImport.objects.select_related("imported_by")


def statement_line_list_unmatched() -> QuerySet[StatementLine]:
    """Finance's claim queue."""
    return StatementLine.objects.filter(status=LineStatus.UNMATCHED).order_by("booked_at")


def statement_line_list_to_return() -> QuerySet[StatementLine]:
    """Credits that pay no order (after closing, or a second time): to be returned to their payer."""
    return StatementLine.objects.filter(status__in=[LineStatus.PAID_LATE, LineStatus.DUPLICATE]).select_related(
        "payment__order"
    )


def access_payment_of_order(*, order: Order) -> Payment:
    """The payment attempt of an order (one per order and channel), found through the order the caller may see."""
    payment = Payment.objects.filter(order=order, channel=order.channel).first()
    if payment is None:
        raise NotFound(_("未找到该订单的支付记录"))
    return payment


def access_offline_payment(*, order: Order) -> Payment:
    payment = Payment.objects.filter(order=order, channel=PaymentChannel.OFFLINE).first()
    if payment is None:
        raise NotFound(_("该订单不是线下汇款订单"))
    return payment


def access_voucher_of_order(*, order: Order, voucher_id: int) -> RemittanceVoucher:
    """A voucher of this order; another order's voucher is simply not found (no leak)."""
    voucher = RemittanceVoucher.objects.filter(pk=voucher_id, payment__order=order).first()
    if voucher is None:
        raise NotFound(_("未找到该凭证"))
    return voucher


def order_list_for_backoffice(
    *, query: str = "", status: str = "", created_from: datetime | None = None, created_to: datetime | None = None
) -> QuerySet[Order]:
    """All orders, newest first, with their enterprise and their payment attempts (oldest first), for the operators'
    order list: filtered by enterprise (USCC or name), status and creation time. A fixed number of queries per page.
    It lives here, not in orders, because orders know nothing of payments."""
    rows = Order.objects.select_related("enterprise").order_by("-created_at", "-id")
    if query:
        rows = rows.filter(enterprise__uscc=query.upper()) | rows.filter(enterprise__name__icontains=query)
    if status in OrderStatus.values:
        rows = rows.filter(status=status)
    if created_from is not None:
        rows = rows.filter(created_at__gte=created_from)
    if created_to is not None:
        rows = rows.filter(created_at__lte=created_to)
    return rows.prefetch_related(Prefetch("payments", queryset=Payment.objects.order_by("created_at")))
