"""The active query (R1.7): pending online payments whose QR code was shown, and those closed in the last day, are
asked about at their gateway; a payment whose notification was lost is found here."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models import Q

from mobileca.audit.services import Actor
from mobileca.core.clock import now
from mobileca.core.errors import GatewayError
from mobileca.orders.models import PaymentChannel
from mobileca.payments.channels import channel_for
from mobileca.payments.models import Payment, PaymentStatus
from mobileca.payments.observe import Outcome, payment_observe

log = logging.getLogger(__name__)
RECENTLY_CLOSED = timedelta(days=1)


def payment_query(*, payment_id: int, actor: Actor) -> Outcome | None:
    """Ask the gateway about one payment and apply the answer (a lost notification is found this way)."""
    payment = Payment.objects.select_related("order__product").get(pk=payment_id)
    observation = channel_for(payment).query(payment)
    if observation is None:
        return None
    return payment_observe(payment_id=payment.pk, observation=observation, actor=actor, payment=payment)


def payments_query_pending(*, actor: Actor, older_than: timedelta = timedelta(seconds=30)) -> int:
    """The active query of pending online payments whose QR code was shown. Returns how many were found paid."""
    moment = now()
    due = Payment.objects.filter(
        Q(status=PaymentStatus.PENDING, qr_opened_at__lte=moment - older_than)
        # Closed in the last day: money paid as we closed, its notifications lost, is still found (as paid late).
        | Q(status=PaymentStatus.CLOSED, closed_at__gte=moment - RECENTLY_CLOSED),
        channel__in=[PaymentChannel.ALIPAY, PaymentChannel.WECHAT],
        qr_opened_at__isnull=False,
    ).values_list("pk", flat=True)
    found = 0
    for payment_id in due:
        try:
            found += payment_query(payment_id=payment_id, actor=actor) in (Outcome.PAID, Outcome.PAID_LATE)
        except GatewayError as exc:
            log.warning("query of payment %s failed: %r", payment_id, exc)
    return found
