"""Checkout (「确认并支付」, R1.1–R1.6): the order, once per client token, and its payment attempt for the channel."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from mobileca.accounts.models import Enterprise
from mobileca.audit.services import Actor, audit_record
from mobileca.cards.models import CardStatus
from mobileca.cards.selectors import card_get_for_enterprise
from mobileca.core.errors import InvalidInput
from mobileca.core.ids import new_memo_code, new_order_no
from mobileca.orders.models import Order, OrderKind, OrderStatus, PaymentChannel, Product
from mobileca.orders.services import OrderDraft, order_create
from mobileca.payments.models import Payment
from mobileca.physical.services import application_approved


@transaction.atomic(durable=True)
def checkout(*, draft: OrderDraft, actor: Actor) -> Order:
    """「确认并支付」: create the order (once per client token) and its payment attempt for the channel."""
    enterprise = draft.enterprise
    repeated = Order.objects.filter(created_by=draft.user, client_token=draft.client_token).exists()
    if draft.renew_card_id is not None and not repeated:
        _refuse_unless_renewable(enterprise, draft.renew_card_id)
    product = Product.objects.filter(code=draft.product_code).first()
    if product is not None and product.needs_application and not application_approved(enterprise.pk):
        raise InvalidInput(_("首次购买实体 CA 需先提交「CA 办理申请」并通过审核"), code="application_required")
    order, created = order_create(draft=draft, actor=actor)
    if created:
        _payment_start(order=order, actor=actor)
    return order


def _refuse_unless_renewable(enterprise: Enterprise, card_id: int) -> None:
    card = card_get_for_enterprise(enterprise=enterprise, card_id=card_id)
    if card is None:
        raise InvalidInput(_("未找到要续费的证书"), code="card_unknown")
    if card.status == CardStatus.UNCLAIMED:
        raise InvalidInput(_("该证书尚未申领开通，无需续费"), code="card_not_claimed")
    if card.renewal_order_no:
        raise InvalidInput(_("该证书已有待申领的续费，请先扫码完成续费"), code="renewal_pending")
    if Order.objects.filter(card_id=card_id, kind=OrderKind.RENEWAL, status=OrderStatus.PENDING_PAYMENT).exists():
        raise InvalidInput(
            _("该证书已有待支付的续费订单，请在「CA 新购」的待支付订单中继续支付"), code="renewal_unpaid"
        )


def _payment_start(*, order: Order, actor: Actor) -> Payment:
    for _attempt in range(5):
        try:
            with transaction.atomic():
                payment = Payment.objects.create(
                    order=order,
                    channel=order.channel,
                    out_trade_no=new_order_no(order.created_at),
                    amount=order.amount,
                    created_at=order.created_at,
                    memo_code=new_memo_code() if order.channel == PaymentChannel.OFFLINE else None,
                )
                audit_record(
                    action="payment.started",
                    subject=f"payment:{payment.out_trade_no}",
                    actor=actor,
                    enterprise_id=order.enterprise_id,
                    data={"order": order.order_no, "channel": payment.channel, "memo": payment.memo_code},
                )
                return payment
        except IntegrityError:
            continue  # a memo code or trade number clash: draw again
    raise RuntimeError("could not allocate a unique payment reference")
