"""Opening an online payment (R1.6): the gateway's QR code for the pay page, kept so a reload shows the same one, and
Alipay's page pay for desktop buyers."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext as _

from mobileca.audit.services import Actor, audit_record
from mobileca.core.clock import now
from mobileca.core.errors import Conflict
from mobileca.payments.channels import channel_for
from mobileca.payments.locks import lock_payment_with_order
from mobileca.payments.models import Payment, PaymentStatus
from mobileca.payments.online import gateway_expiry


def payment_open_online(*, payment_id: int) -> Payment:
    """Ask the gateway for the QR code of a pending online payment (once; a reload shows the same code)."""
    payment = Payment.objects.select_related("order").get(pk=payment_id)
    if payment.qr_content or payment.status != PaymentStatus.PENDING:
        return payment
    channel = channel_for(payment)
    if not channel.online:
        raise Conflict(_("该订单不是在线支付订单"), code="not_online")
    qr = channel.open(payment)
    return payment_open_record(payment_id=payment.pk, qr_content=qr, gateway_expires_at=gateway_expiry(payment))


@transaction.atomic(durable=True)
def payment_open_record(*, payment_id: int, qr_content: str, gateway_expires_at: datetime) -> Payment:
    """Keep what the gateway gave for an online payment (its QR code) so a reload shows the same one."""
    order, payment = lock_payment_with_order(payment_id)
    if payment.qr_content or payment.status != PaymentStatus.PENDING:
        return payment
    payment.qr_content, payment.qr_opened_at, payment.gateway_expires_at = qr_content, now(), gateway_expires_at
    payment.save(update_fields=["qr_content", "qr_opened_at", "gateway_expires_at"])
    audit_record(
        action="payment.opened",
        subject=f"payment:{payment.out_trade_no}",
        actor=Actor("gateway", payment.channel),
        enterprise_id=order.enterprise_id,
        data={"gateway_expires_at": gateway_expires_at.isoformat()},
    )
    return payment


def alipay_page_pay_url(*, payment: Payment) -> str:
    return channel_for(payment).page_pay_url(payment)
