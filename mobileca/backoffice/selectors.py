"""The back office's reads for its confirmation steps: what a money action is about to touch (the payment, the
statement line, the order a typed reference names), read without locks, before finance confirms it."""

from __future__ import annotations

from django.utils.translation import gettext as _

from mobileca.core.errors import InvalidInput, NotFound
from mobileca.orders.models import PaymentChannel
from mobileca.payments.models import Payment, StatementLine


def _pk(value: object) -> int:
    """A primary key typed into a form; ``InvalidInput`` (400) for anything else, never a 500."""
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise InvalidInput(_("无效的请求"), code="invalid_id")
    return int(text)


def remittance_for_confirmation(*, payment_id: int) -> Payment:
    payment = (
        Payment.objects.select_related("order__enterprise")
        .prefetch_related("vouchers")
        .filter(pk=payment_id, channel=PaymentChannel.OFFLINE)
        .first()
    )
    if payment is None:
        raise NotFound(_("未找到该汇款"))
    return payment


def payment_for_refund(*, payment_id: object) -> Payment:
    payment = Payment.objects.select_related("order__enterprise", "refund").filter(pk=_pk(payment_id)).first()
    if payment is None:
        raise NotFound(_("未找到该款项"))
    return payment


def statement_line_for_confirmation(*, line_id: int) -> StatementLine:
    line = StatementLine.objects.select_related("payment__order__enterprise").filter(pk=line_id).first()
    if line is None:
        raise NotFound(_("未找到该到账记录"))
    return line


def offline_payment_by_reference(*, reference: str) -> Payment | None:
    """The offline payment an order number or a memo code names, as ``statements.statement_line_claim`` reads it."""
    reference = reference.strip().upper()
    if not reference:
        return None
    found = Payment.objects.select_related("order__enterprise")
    return (
        found.filter(memo_code=reference).first()
        or found.filter(order__order_no=reference, channel=PaymentChannel.OFFLINE).first()
    )
