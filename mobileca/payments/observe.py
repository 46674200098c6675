"""The one observation writer: everything we learn about a payment (a gateway notification or query, a finance
confirmation, a bank-statement credit, the close of an expired order) is recorded in the inbox, unique per channel
and event, then applied through the transitions table, so a payment is applied exactly once.

This module makes no network calls and knows no gateway: the channels (``channels``) ask the gateways and hand
what they heard here as an ``Observation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from mobileca.audit.services import Actor, AuditEntry, audit_record, audit_record_many
from mobileca.cards.services import card_create_for_order, card_renewal_paid
from mobileca.core.clock import now
from mobileca.notices.services import notify
from mobileca.orders.models import Order, OrderKind, PaymentChannel
from mobileca.orders.rows import insert_unless_conflict
from mobileca.orders.services import (
    order_attach_card,
    order_cancel_unpaid,
    order_close,
    order_mark_paid,
    order_mark_paid_if_pending,
)
from mobileca.payments.locks import lock_payment_with_order
from mobileca.payments.models import Payment, PaymentEvent, PaymentStatus, VoucherStatus
from mobileca.payments.transitions import payment_pay_if_pending, payment_status_move, vouchers_status_move
from mobileca.physical.services import shipment_create


class Outcome(StrEnum):
    PAID = "paid"
    SETTLED = "settled"  # the credit behind an earlier finance confirmation: nothing more to do
    PAID_LATE = "paid_late"
    ALREADY_PAID = "already_paid"  # a second credit for a paid order: real money, to be refunded
    DUPLICATE_EVENT = "duplicate_event"  # the same observation again: nothing to do
    AMOUNT_MISMATCH = "amount_mismatch"
    CLOSED = "closed"
    NOOP = "noop"


@dataclass(frozen=True)
class Observation:
    """Something we learnt about a payment, from wherever it came."""

    # "paid" | "closed" | "cancelled" (the buyer cancelled the unpaid order) | "status" (recorded, changes nothing: a
    # refund or close notice, a pending trade)
    kind: str
    event_key: str  # unique per channel: the inbox refuses a second copy
    amount: Decimal | None
    at: datetime
    payload: dict[str, Any]
    # True when the money itself was seen (a bank credit, a gateway notification or query); False for a person's
    # word that it arrived (finance confirmation).
    credit: bool = False
    # Which money this is: the bank transaction or the gateway's trade number. The same money seen again through
    # another door (a notification, then a query) is not a second payment. Defaults to the event key.
    credit_ref: str = ""

    @property
    def money_ref(self) -> str:
        return self.credit_ref or self.event_key


def close_observation(payment: Payment, moment: datetime) -> Observation:
    """The order's payment deadline passed (and the gateway, if any, closed the trade)."""
    return Observation(kind="closed", event_key=f"close:{payment.out_trade_no}", amount=None, at=moment, payload={})


def cancel_observation(payment: Payment, moment: datetime) -> Observation:
    """The buyer cancelled the unpaid order (and the gateway, if any, closed the trade)."""
    return Observation(kind="cancelled", event_key=f"cancel:{payment.out_trade_no}", amount=None, at=moment, payload={})


ONLINE_CHANNELS = frozenset({PaymentChannel.ALIPAY, PaymentChannel.WECHAT})


class _NotPayable(Exception):
    """The payment is not pending although its order was: roll the fast path back and take the locks instead."""


class _SeenBefore(Exception):
    """The inbox already holds this observation: roll the fast path back, nothing is applied."""


def payment_observe(
    *, payment_id: int, observation: Observation, actor: Actor, payment: Payment | None = None
) -> Outcome:
    """Lock the order and the payment, record the observation in the inbox, apply it; one transaction.

    ``payment``, when the caller has read it (with its order and product, without a lock, e.g. to check a
    notification's amount), saves reading it again, and lets money seen for a pending online order take the fast
    path: lock-and-update statements instead of locking reads (``_pay_pending``). Its status is never trusted: only
    the conditional updates and the locks taken here decide."""
    if payment is not None and observation.kind == "paid" and payment.channel in ONLINE_CHANNELS:
        try:
            with transaction.atomic(durable=True):
                outcome = _pay_pending(payment=payment, observation=observation, actor=actor)
                if outcome is not None:
                    return outcome
                # The order is no longer pending (nothing was written): look under the locks, same transaction.
                return _observe(payment_id=payment_id, order_id=payment.order_id, observation=observation, actor=actor)
        except _SeenBefore:
            return Outcome.DUPLICATE_EVENT
        except _NotPayable:
            pass  # rolled back; the general path below decides
    with transaction.atomic(durable=True):
        order_id = payment.order_id if payment is not None else None
        return _observe(payment_id=payment_id, order_id=order_id, observation=observation, actor=actor)


def _observe(*, payment_id: int, order_id: int | None, observation: Observation, actor: Actor) -> Outcome:
    order, payment = lock_payment_with_order(payment_id, order_id=order_id)
    return payment_observe_locked(order=order, payment=payment, observation=observation, actor=actor)


def _inbox_insert(payment: Payment, observation: Observation, outcome: str) -> bool:
    """Store the observation in the inbox in one statement; False if the inbox already holds it (nothing written)."""
    event = PaymentEvent(
        channel=payment.channel,
        event_key=observation.event_key,
        payment=payment,
        kind=observation.kind,
        amount=observation.amount,
        payload=observation.payload,
        outcome=outcome,
        received_at=now(),
    )
    return insert_unless_conflict(event) is not None


def _pay_pending(*, payment: Payment, observation: Observation, actor: Actor) -> Outcome | None:
    """Money seen for a pending online order, the common case, in a few statements: the order and then the payment
    moved by ``UPDATE … WHERE status = 'pending…'`` (each locks, checks and writes: the house lock order, without the
    locking reads), the inbox row with its outcome, the card, the notice, and all the audit events in one INSERT.

    ``None`` when the order is not pending (nothing written); raises ``_SeenBefore`` or ``_NotPayable`` to roll back
    what it wrote. The amount was checked by the caller against the payment's (which never changes)."""
    order = payment.order
    if observation.amount != payment.amount:
        return None  # the general path records the refusal
    order_paid = order_mark_paid_if_pending(order=order, paid_at=observation.at, actor=actor)
    if order_paid is None:
        return None
    facts = {"event": observation.event_key, "amount": str(observation.amount)}
    payment_paid = payment_pay_if_pending(
        order=order,
        payment=payment,
        actor=actor,
        data=facts,
        paid_at=observation.at,
        paid_by_event=observation.event_key,
        settled_by_event=observation.money_ref if observation.credit else "",
    )
    if payment_paid is None:
        raise _NotPayable
    if not _inbox_insert(payment, observation, Outcome.PAID.value):
        raise _SeenBefore
    entries = [payment_paid, order_paid]
    if order.kind == OrderKind.NEW and not order.product.needs_application:
        _fulfil(order=order, actor=actor, audit=entries)  # the card's event joins the batch
        audit_record_many(entries)
    else:
        audit_record_many(entries)  # a renewal or a shipment records its own events after these, as before
        _fulfil(order=order, actor=actor)
    return Outcome.PAID


def payment_observe_locked(*, order: Order, payment: Payment, observation: Observation, actor: Actor) -> Outcome:
    """Record the observation in the inbox, then apply it. The caller holds the order and payment locks."""
    if not _inbox_insert(payment, observation, "pending"):
        return Outcome.DUPLICATE_EVENT
    outcome = _apply(order=order, payment=payment, observation=observation, actor=actor)
    PaymentEvent.objects.filter(channel=payment.channel, event_key=observation.event_key).update(outcome=outcome.value)
    return outcome


def _apply(*, order: Order, payment: Payment, observation: Observation, actor: Actor) -> Outcome:
    facts = {"event": observation.event_key, "amount": str(observation.amount)}

    def record(action: str, **data: Any) -> None:
        audit_record(
            action=action,
            subject=f"payment:{payment.out_trade_no}",
            actor=actor,
            enterprise_id=order.enterprise_id,
            data={**facts, **data},
        )

    if observation.kind == "status":
        return Outcome.NOOP
    if observation.kind in ("closed", "cancelled"):
        if payment.status != PaymentStatus.PENDING:
            return Outcome.NOOP
        payment_status_move(
            order=order,
            payment=payment,
            target=PaymentStatus.CLOSED,
            actor=actor,
            action="payment.closed",
            data=facts,
            closed_at=observation.at,
        )
        if observation.kind == "cancelled":
            order_cancel_unpaid(order=order, actor=actor)
        else:
            order_close(order=order, actor=actor, reason="expired")
        return Outcome.CLOSED
    if observation.amount != payment.amount:
        record("payment.refused", reason="amount_mismatch")
        return Outcome.AMOUNT_MISMATCH
    if observation.credit and payment.settled_by_event == observation.money_ref:
        return Outcome.NOOP  # the same money, seen again through another door
    if payment.status == PaymentStatus.PAID and observation.credit and not payment.settled_by_event:
        payment.settled_by_event = observation.money_ref
        payment.save(update_fields=["settled_by_event"])
        record("payment.settled")
        return Outcome.SETTLED
    if payment.status in (PaymentStatus.PAID, PaymentStatus.PAID_LATE, PaymentStatus.REFUNDED):
        record("payment.extra_credit")
        return Outcome.ALREADY_PAID
    late = payment.status == PaymentStatus.CLOSED
    target = PaymentStatus.PAID_LATE if late else PaymentStatus.PAID
    payment_status_move(
        order=order,
        payment=payment,
        target=target,
        actor=actor,
        action=f"payment.{target.value}",
        data=facts,
        paid_at=observation.at,
        paid_by_event=observation.event_key,
        settled_by_event=observation.money_ref if observation.credit else "",
    )
    if late:
        return Outcome.PAID_LATE
    if payment.channel not in ONLINE_CHANNELS:  # vouchers are remittances'
        _vouchers_accept(order=order, payment=payment, actor=actor)
    order_mark_paid(order=order, paid_at=observation.at, actor=actor)
    _fulfil(order=order, actor=actor)
    return Outcome.PAID


def _vouchers_accept(*, order: Order, payment: Payment, actor: Actor) -> None:
    """The order is paid, however we learnt it: its waiting vouchers are settled too."""
    waiting = list(payment.vouchers.select_for_update().filter(status=VoucherStatus.SUBMITTED).order_by("pk"))
    reviewer = int(actor.ident) if actor.kind == "operator" and actor.ident.isdigit() else None
    vouchers_status_move(
        order=order, payment=payment, vouchers=waiting, target=VoucherStatus.ACCEPTED, actor=actor, reviewer_id=reviewer
    )


def _fulfil(*, order: Order, actor: Actor, audit: list[AuditEntry] | None = None) -> None:
    """A paid new purchase buys a card (R2.1); a paid renewal waits on its card to be claimed (R4.1). The card's
    event goes to ``audit`` when given (the caller writes it with its own)."""
    notify(
        enterprise_id=order.enterprise_id,
        kind="payment_received",
        title=_("订单已支付"),
        body=_("订单 {order}（{product}，¥{amount}）已收到付款。").format(
            order=order.order_no, product=order.product_name, amount=order.amount
        ),
    )
    if order.kind == OrderKind.RENEWAL and order.card_id is not None:
        card_renewal_paid(card_id=order.card_id, order_no=order.order_no, actor=actor)
    elif order.product.needs_application:
        shipment_create(order_no=order.order_no, enterprise_id=order.enterprise_id)
    elif order.kind == OrderKind.NEW:
        card = card_create_for_order(
            enterprise_id=order.enterprise_id,
            product_name=order.product_name,
            order_no=order.order_no,
            purchased_at=order.paid_at or now(),
            actor=actor,
            audit=audit,
        )
        order_attach_card(order=order, card_id=card.pk)
