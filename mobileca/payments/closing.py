"""Closing expired orders (R1.6, §7): the periodic job, and the close policy every channel follows — ask the
gateway (it may have been paid), close the trade there, and after a refused close ask once more."""

from __future__ import annotations

import logging

from django.db import transaction

from mobileca.audit.services import Actor
from mobileca.core.clock import now
from mobileca.core.errors import FinalGatewayError, GatewayError, RetryableGatewayError
from mobileca.orders.models import OrderStatus
from mobileca.payments.channels import channel_for
from mobileca.payments.locks import lock_payment_with_order
from mobileca.payments.models import Payment, PaymentStatus
from mobileca.payments.observe import Outcome, close_observation, payment_observe, payment_observe_locked

log = logging.getLogger(__name__)
AUTO_CLOSE = Actor("system", "auto-close")


def payments_close_expired(*, actor: Actor) -> int:
    """Close every pending payment whose order is past its payment deadline (R1.6, §7). Returns how many."""
    moment = now()
    due = Payment.objects.filter(
        status=PaymentStatus.PENDING, order__status=OrderStatus.PENDING_PAYMENT, order__expires_at__lte=moment
    ).values_list("pk", flat=True)
    closed = 0
    for payment_id in due:
        if not payment_close_at_gateway(payment=Payment.objects.select_related("order").get(pk=payment_id)):
            continue
        with transaction.atomic(durable=True):
            order, payment = lock_payment_with_order(payment_id)
            outcome = payment_observe_locked(
                order=order, payment=payment, observation=close_observation(payment, moment), actor=actor
            )
        closed += outcome == Outcome.CLOSED
    if closed:
        log.info("closed %d expired payments", closed)
    return closed


def payment_close_at_gateway(*, payment: Payment) -> bool:
    """Before closing locally: query (it may have been paid), then close at the gateway. False: do not close yet.

    A payment never shown at a gateway (offline, or no QR code asked for) has nothing to close there.
    """
    channel = channel_for(payment)
    if not channel.online or not payment.qr_content:
        return True
    if _paid_at_gateway(payment) is not False:
        return False  # paid (and applied), or unknown: the next run asks again
    try:
        channel.close(payment)
    except RetryableGatewayError as exc:
        log.warning("gateway close of %s failed, will retry: %r", payment.out_trade_no, exc)
        return False
    except FinalGatewayError as exc:
        # Refused: perhaps paid this very moment (ORDERPAID, TRADE_STATUS_ERROR). Ask once more; if it is not paid,
        # close locally all the same: money that still arrives is paid late and refunded, never lost.
        log.warning("gateway close of %s refused: %r", payment.out_trade_no, exc)
        return _paid_at_gateway(payment) is False
    return True


def _paid_at_gateway(payment: Payment) -> bool | None:
    """Ask the gateway; a payment found is applied at once. ``None``: the gateway could not say."""
    try:
        observation = channel_for(payment).query(payment)
    except GatewayError as exc:
        log.warning("query before closing %s failed, will retry: %r", payment.out_trade_no, exc)
        return None
    if observation is None:
        return False
    payment_observe(payment_id=payment.pk, observation=observation, actor=AUTO_CLOSE)
    return True
