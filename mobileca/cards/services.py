from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mobileca.audit.services import Actor, audit_record
from mobileca.cards.models import CARD_TRANSITIONS, Card, CardStatus
from mobileca.core.clock import now
from mobileca.core.ids import cert_ids
from mobileca.core.states import ensure_transition
from mobileca.notices.services import notify

_MAX_ID_ATTEMPTS = 50


def card_create_for_order(
    *, enterprise_id: int, product_name: str, order_no: str, purchased_at: datetime, actor: Actor
) -> Card:
    """The card a paid new-purchase order buys (R2.1). Idempotent per order.

    The 证书ID is the creation millisecond; if another process took that millisecond, take the next free one.
    """
    existing = Card.objects.filter(source_order_no=order_no).first()
    if existing is not None:
        return existing
    created_at = now()
    cert_id = cert_ids.next(created_at)
    for _attempt in range(_MAX_ID_ATTEMPTS):
        try:
            with transaction.atomic():
                card = Card.objects.create(
                    cert_id=cert_id,
                    enterprise_id=enterprise_id,
                    product_name=product_name,
                    source_order_no=order_no,
                    first_purchased_at=purchased_at,
                    created_at=created_at,
                )
                audit_record(
                    action="card.created",
                    subject=f"card:{card.cert_id}",
                    actor=actor,
                    enterprise_id=enterprise_id,
                    data={"order": order_no},
                )
                return card
        except IntegrityError:
            if Card.objects.filter(source_order_no=order_no).exists():
                raise  # the order already has its card: a caller bug, not an id clash
            cert_id = cert_ids.after(cert_id)
    raise RuntimeError("could not allocate a unique 证书ID")


@transaction.atomic
def card_activate(*, cert_id: str, service_no: str, expires_at: datetime, actor: Actor) -> Card:
    """The signing service reports the claim activated: the card shows its 服务编号 and 服务到期时间 (R3.7).

    Idempotent."""
    card = Card.objects.select_for_update().get(cert_id=cert_id)
    if card.status == CardStatus.ACTIVE and card.service_no == service_no:
        return card
    ensure_transition(CARD_TRANSITIONS, card.status, CardStatus.ACTIVE)
    card.status, card.service_no, card.expires_at = CardStatus.ACTIVE, service_no, expires_at
    card.save(update_fields=["status", "service_no", "expires_at"])
    notify(
        enterprise_id=card.enterprise_id,
        kind="card_activated",
        title=_("移动 CA 已开通"),
        body=_("证书 {cert_id} 已开通，服务编号 {service_no}。").format(cert_id=card.cert_id, service_no=service_no),
    )
    audit_record(
        action="card.activated",
        subject=f"card:{card.cert_id}",
        actor=actor,
        enterprise_id=card.enterprise_id,
        data={"service_no": service_no, "expires_at": expires_at.isoformat()},
    )
    return card


@transaction.atomic
def card_renewal_paid(*, card_id: int, order_no: str, actor: Actor) -> Card:
    """A paid renewal order: the card waits for its claimant to scan and complete the renewal (R4.1)."""
    card = Card.objects.select_for_update().get(pk=card_id)
    if card.renewal_order_no == order_no:
        return card
    card.renewal_order_no = order_no
    card.save(update_fields=["renewal_order_no"])
    audit_record(
        action="card.renewal_paid",
        subject=f"card:{card.cert_id}",
        actor=actor,
        enterprise_id=card.enterprise_id,
        data={"order": order_no},
    )
    return card


@transaction.atomic
def card_renewed(*, cert_id: str, order_no: str, expires_at: datetime, actor: Actor) -> Card:
    """The signing service completed the renewal: 服务到期时间 moves (R4.2). Idempotent."""
    card = Card.objects.select_for_update().get(cert_id=cert_id)
    if card.renewal_order_no != order_no:
        return card  # already applied
    if card.status == CardStatus.EXPIRED:
        ensure_transition(CARD_TRANSITIONS, card.status, CardStatus.ACTIVE)
        card.status = CardStatus.ACTIVE
    card.expires_at, card.renewal_order_no = expires_at, ""
    card.save(update_fields=["status", "expires_at", "renewal_order_no"])
    notify(
        enterprise_id=card.enterprise_id,
        kind="card_renewed",
        title=_("移动 CA 已续费"),
        body=_("证书 {cert_id} 已续费，服务到期时间 {date}。").format(
            cert_id=card.cert_id, date=timezone.localtime(expires_at).strftime("%Y-%m-%d")
        ),
    )
    audit_record(
        action="card.renewed",
        subject=f"card:{card.cert_id}",
        actor=actor,
        enterprise_id=card.enterprise_id,
        data={"order": order_no, "expires_at": expires_at.isoformat()},
    )
    return card
