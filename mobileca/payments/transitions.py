"""The one writer of each payment status field: ``Payment.status``, ``StatementLine.status`` and
``RemittanceVoucher.status``. Nothing else assigns them.

Each writer checks the edge against its table (``models``), saves with ``update_fields`` and writes its audit event
in the caller's transaction. The caller holds the row locks, always taken in the house order of ``locks``
(order, payment, then the line or voucher): the writers never lock, so no two of them can take locks in another
order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction

from mobileca.audit.services import Actor, AuditEntry, audit_record
from mobileca.core.clock import now
from mobileca.core.states import ensure_transition
from mobileca.orders.models import Order
from mobileca.payments.models import (
    LINE_TRANSITIONS,
    PAYMENT_TRANSITIONS,
    VOUCHER_TRANSITIONS,
    LineStatus,
    Payment,
    PaymentStatus,
    RemittanceVoucher,
    StatementLine,
    VoucherStatus,
)


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("status writers run inside the caller's locking transaction")


def _payment_audit(*, order: Order, payment: Payment, actor: Actor, action: str, data: dict[str, Any]) -> None:
    subject = f"payment:{payment.out_trade_no}"
    audit_record(action=action, subject=subject, actor=actor, enterprise_id=order.enterprise_id, data=data)


def payment_status_move(
    *,
    order: Order,
    payment: Payment,
    target: PaymentStatus,
    actor: Actor,
    action: str,
    data: dict[str, Any],
    paid_at: datetime | None = None,
    paid_by_event: str | None = None,
    settled_by_event: str | None = None,
    closed_at: datetime | None = None,
) -> None:
    """Move a locked payment along ``PAYMENT_TRANSITIONS`` with the facts of the move; audit it as ``action``."""
    _require_transaction()
    ensure_transition(PAYMENT_TRANSITIONS, payment.status, target)
    payment.status = target
    fields = ["status"]
    for name, value in (
        ("paid_at", paid_at),
        ("paid_by_event", paid_by_event),
        ("settled_by_event", settled_by_event),
        ("closed_at", closed_at),
    ):
        if value is not None:
            setattr(payment, name, value)
            fields.append(name)
    payment.save(update_fields=fields)
    _payment_audit(order=order, payment=payment, actor=actor, action=action, data=data)


def payment_pay_if_pending(
    *,
    order: Order,
    payment: Payment,
    actor: Actor,
    data: dict[str, Any],
    paid_at: datetime,
    paid_by_event: str,
    settled_by_event: str,
) -> AuditEntry | None:
    """PENDING → PAID as one statement that locks, checks and writes (``UPDATE … WHERE status = 'pending'``): the
    ``payment.paid`` audit entry for the caller to write with the change's other events, or ``None`` when the payment
    is no longer pending (nothing written; the caller then takes the locks and looks). The caller holds the order's
    row lock, so the house lock order is kept."""
    _require_transaction()
    ensure_transition(PAYMENT_TRANSITIONS, PaymentStatus.PENDING, PaymentStatus.PAID)
    facts = {"paid_at": paid_at, "paid_by_event": paid_by_event, "settled_by_event": settled_by_event}
    pending = Payment.objects.filter(pk=payment.pk, status=PaymentStatus.PENDING)
    if not pending.update(status=PaymentStatus.PAID, **facts):
        return None
    payment.status = PaymentStatus.PAID
    for name, value in facts.items():
        setattr(payment, name, value)
    return AuditEntry(
        action="payment.paid",
        subject=f"payment:{payment.out_trade_no}",
        actor=actor,
        enterprise_id=order.enterprise_id,
        data=data,
    )


def statement_line_status_move(
    *,
    line: StatementLine,
    target: LineStatus,
    note: str,
    actor: Actor,
    payment: Payment | None = None,
    enterprise_id: int | None = None,
) -> LineStatus:
    """Move a locked statement line along ``LINE_TRANSITIONS``; the line has now been looked at."""
    _require_transaction()
    ensure_transition(LINE_TRANSITIONS, line.status, target)
    line.status, line.status_note, line.payment, line.attempted = target, note[:200], payment, True
    line.save(update_fields=["status", "status_note", "payment", "attempted"])
    audit_record(
        action=f"statement.line_{target.value}",
        subject=f"statement_line:{line.bank_txn_id}",
        actor=actor,
        enterprise_id=enterprise_id,
        data={
            "payment": payment.out_trade_no if payment else None,
            "amount": str(line.amount),
            "note": line.status_note,
        },
    )
    return target


def vouchers_status_move(
    *,
    order: Order,
    payment: Payment,
    vouchers: Sequence[RemittanceVoucher],
    target: VoucherStatus,
    actor: Actor,
    reviewer_id: int | None,
    reason: str = "",
) -> None:
    """Review locked vouchers of one payment: accepted together when the order is paid, or one rejected."""
    _require_transaction()
    if not vouchers:
        return
    moment = now()
    for voucher in vouchers:
        ensure_transition(VOUCHER_TRANSITIONS, voucher.status, target)
        voucher.status, voucher.reject_reason = target, reason[:200]
        voucher.reviewed_at, voucher.reviewed_by_id = moment, reviewer_id
        voucher.save(update_fields=["status", "reject_reason", "reviewed_at", "reviewed_by"])
    data: dict[str, Any]
    if target == VoucherStatus.ACCEPTED:
        action, data = "remittance.vouchers_accepted", {"vouchers": [voucher.pk for voucher in vouchers]}
    else:
        action, data = "remittance.voucher_rejected", {"voucher": vouchers[0].pk, "reason": reason[:200]}
    _payment_audit(order=order, payment=payment, actor=actor, action=action, data=data)
