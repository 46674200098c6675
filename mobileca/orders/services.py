"""Order writes. Callers hold the order's row lock (``payments.locks``) when they change its status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from mobileca.accounts.models import Enterprise, User
from mobileca.audit.services import Actor, AuditEntry, audit_record
from mobileca.core.clock import now
from mobileca.core.errors import InvalidInput
from mobileca.core.ids import new_order_no
from mobileca.core.states import ensure_transition
from mobileca.orders.models import ORDER_TRANSITIONS, Order, OrderKind, OrderStatus, PaymentChannel
from mobileca.orders.selectors import product_get_for_sale, region_list_active

ENABLED_CHANNELS = frozenset({PaymentChannel.ALIPAY, PaymentChannel.WECHAT, PaymentChannel.OFFLINE})


def order_ttl(channel: str) -> timedelta:
    if channel == PaymentChannel.OFFLINE:
        return timedelta(hours=settings.MOBILECA_OFFLINE_ORDER_TTL_HOURS)
    return timedelta(minutes=settings.MOBILECA_ONLINE_ORDER_TTL_MINUTES)


@dataclass(frozen=True)
class OrderDraft:
    """What the buyer asked for on the checkout page: choices (product, region, channel), the amount they saw, the
    page's one-time token, and for a renewal (R4.1) the card. Nothing here is trusted: the server checks it all."""

    user: User
    enterprise: Enterprise
    product_code: str
    region_code: str
    channel: str
    expected_amount: Decimal | None
    client_token: str
    renew_card_id: int | None = None


def order_create(*, draft: OrderDraft, actor: Actor) -> tuple[Order, bool]:
    """Create a new-purchase order — or, with ``draft.renew_card_id``, a renewal of that card (R4.1; the caller
    checked the card may be renewed) — from server-side facts only. Returns (order, created).

    The form contributes choices (product, region, channel) and the amount the buyer saw; the amount charged is
    the product's price. If the two differ the form was tampered with or the price changed: refuse.
    """
    user, enterprise, channel, client_token = draft.user, draft.enterprise, draft.channel, draft.client_token
    renew_card_id = draft.renew_card_id
    if not client_token or len(client_token) > 64:
        raise InvalidInput(_("页面已过期，请刷新后重试"), code="missing_client_token")
    existing = Order.objects.filter(created_by=user, client_token=client_token).first()
    if existing is not None:
        return existing, False
    product = product_get_for_sale(code=draft.product_code)
    region = region_list_active().filter(code=draft.region_code).first()
    if region is None:
        raise InvalidInput(_("请选择办理地区"), code="invalid_region")
    if channel not in PaymentChannel.values:
        raise InvalidInput(_("请选择支付方式"), code="invalid_channel")
    if channel not in ENABLED_CHANNELS:
        raise InvalidInput(_("该支付方式即将开放，请选择线下汇款"), code="channel_unavailable")
    if draft.expected_amount != product.price:
        raise InvalidInput(_("应付金额与当前价格不符，请刷新页面后重试"), code="amount_mismatch")
    created_at = now()
    try:
        with transaction.atomic():
            order = Order.objects.create(
                order_no=new_order_no(created_at),
                enterprise=enterprise,
                created_by=user,
                client_token=client_token,
                kind=OrderKind.RENEWAL if renew_card_id is not None else OrderKind.NEW,
                card_id=renew_card_id,
                product=product,
                product_name=product.name,
                seller_name=settings.MOBILECA_SELLER["name"],
                amount=product.price,
                region=region,
                channel=channel,
                created_at=created_at,
                expires_at=created_at + order_ttl(channel),
            )
            audit_record(
                action="order.created",
                subject=f"order:{order.order_no}",
                actor=actor,
                enterprise_id=enterprise.pk,
                data={
                    "amount": str(order.amount),
                    "channel": channel,
                    "region": region.code,
                    "product": product.code,
                },
            )
    except IntegrityError:
        # The other click of a double click won the race; hand back its order.
        winner = Order.objects.filter(created_by=user, client_token=client_token).first()
        if winner is None:
            raise
        return winner, False
    return order, True


def _order_move(
    *,
    order: Order,
    target: OrderStatus,
    actor: Actor,
    action: str,
    data: dict[str, str],
    refusal: str = "",
    **fields: object,
) -> None:
    """The one writer of ``Order.status``: checks the edge, saves with ``update_fields``, audits. The caller holds
    the order's row lock."""
    ensure_transition(ORDER_TRANSITIONS, order.status, target, message=refusal)
    order.status = target
    for name, value in fields.items():
        setattr(order, name, value)
    order.save(update_fields=["status", *fields])
    audit_record(
        action=action, subject=f"order:{order.order_no}", actor=actor, enterprise_id=order.enterprise_id, data=data
    )


def order_mark_paid(*, order: Order, paid_at: datetime, actor: Actor) -> None:
    """PENDING_PAYMENT → PAID. The caller holds the order's row lock."""
    _order_move(
        order=order,
        target=OrderStatus.PAID,
        actor=actor,
        action="order.paid",
        data={"amount": str(order.amount)},
        refusal=_("订单不是待支付状态"),
        paid_at=paid_at,
    )


def order_mark_paid_if_pending(*, order: Order, paid_at: datetime, actor: Actor) -> AuditEntry | None:
    """PENDING_PAYMENT → PAID as one statement that locks, checks and writes (``UPDATE … WHERE status =
    'pending_payment'``), the first lock of the house order: the ``order.paid`` audit entry for the caller to write
    with the change's other events, or ``None`` when the order is no longer pending (nothing written)."""
    ensure_transition(ORDER_TRANSITIONS, OrderStatus.PENDING_PAYMENT, OrderStatus.PAID)
    moved = Order.objects.filter(pk=order.pk, status=OrderStatus.PENDING_PAYMENT).update(
        status=OrderStatus.PAID, paid_at=paid_at
    )
    if not moved:
        return None
    order.status, order.paid_at = OrderStatus.PAID, paid_at
    return AuditEntry(
        action="order.paid",
        subject=f"order:{order.order_no}",
        actor=actor,
        enterprise_id=order.enterprise_id,
        data={"amount": str(order.amount)},
    )


def order_attach_card(*, order: Order, card_id: int) -> None:
    order.card_id = card_id
    order.save(update_fields=["card_id"])


def order_close(*, order: Order, actor: Actor, reason: str) -> None:
    """PENDING_PAYMENT → CLOSED. The caller holds the order's row lock."""
    _order_move(
        order=order,
        target=OrderStatus.CLOSED,
        actor=actor,
        action="order.closed",
        data={"reason": reason},
        refusal=_("订单不是待支付状态"),
        closed_at=now(),
    )


def order_cancel_unpaid(*, order: Order, actor: Actor) -> None:
    """PENDING_PAYMENT → CANCELLED: the buyer cancelled an order they had not paid (its trade is closed at the
    gateway first, by the caller). The caller holds the order's row lock."""
    _order_move(
        order=order,
        target=OrderStatus.CANCELLED,
        actor=actor,
        action="order.cancelled",
        data={"by": "buyer", "paid": "no"},
        refusal=_("订单不是待支付状态，不能取消"),
        closed_at=now(),
    )


def order_cancel(*, order_no: str, actor: Actor) -> Order:
    """PAID → CANCELLED: the buyer cancelled a physical CA not yet dispatched; its payment waits in finance's refund
    list. Locks the order (the caller may hold the shipment's lock, never the payment's)."""
    order = Order.objects.select_for_update().get(order_no=order_no)
    _order_move(
        order=order,
        target=OrderStatus.CANCELLED,
        actor=actor,
        action="order.cancelled",
        data={"refund_due": str(order.amount)},
        closed_at=now(),
    )
    return order
