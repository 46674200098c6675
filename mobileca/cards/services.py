"""Writes of the platform's certificate cards. ``Card.status`` moves only through ``_move`` (its table is
``CARD_TRANSITIONS``), each caller holding the card's row lock: activation and renewal when the signing service
reports them, expiry by the periodic job."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mobileca.audit.services import Actor, AuditEntry, audit_record, audit_record_many
from mobileca.cards.models import CARD_TRANSITIONS, Card, CardStatus
from mobileca.core.clock import now
from mobileca.core.ids import cert_ids
from mobileca.core.states import ensure_transition
from mobileca.notices.services import notify
from mobileca.orders.rows import insert_unless_conflict

_MAX_ID_ATTEMPTS = 50
EXPIRY_JOB = Actor("system", "cards.expiry")


def _record(
    card: Card, *, action: str, actor: Actor, data: dict[str, str], notice: tuple[str, str, str] | None = None
) -> None:
    """In the transaction of the change: its audit event and, if any, the enterprise's notice (kind, title, body)."""
    if notice is not None:
        kind, title, body = notice
        notify(enterprise_id=card.enterprise_id, kind=kind, title=title, body=body)
    audit_record(
        action=action, subject=f"card:{card.cert_id}", actor=actor, enterprise_id=card.enterprise_id, data=data
    )


def _move(card: Card, target: CardStatus, *, also: Iterable[str] = ()) -> None:
    """The one writer of a card's status (the caller holds the row lock): the move, saved with the fields in
    ``also`` that the caller set for it."""
    ensure_transition(CARD_TRANSITIONS, card.status, target)
    card.status = target
    card.save(update_fields=["status", *also])


def card_create_for_order(
    *,
    enterprise_id: int,
    product_name: str,
    order_no: str,
    purchased_at: datetime,
    actor: Actor,
    audit: list[AuditEntry] | None = None,
) -> Card:
    """The card a paid new-purchase order buys (R2.1). Idempotent per order: the order's card if it has one.

    The 证书ID is the creation millisecond; if another process took that millisecond, take the next free one. One
    statement each try (``INSERT … ON CONFLICT DO NOTHING``, no savepoint): a refused insert is either the order's
    card already there (returned) or the millisecond taken (the next one is tried). Its ``card.created`` event is
    written here, or appended to ``audit`` for the caller to write with the change's other events.
    """
    created_at = now()
    cert_id = cert_ids.next(created_at)
    for _attempt in range(_MAX_ID_ATTEMPTS):
        card = Card(
            cert_id=cert_id,
            enterprise_id=enterprise_id,
            product_name=product_name,
            source_order_no=order_no,
            first_purchased_at=purchased_at,
            created_at=created_at,
        )
        if insert_unless_conflict(card) is not None:
            entry = AuditEntry(
                action="card.created",
                subject=f"card:{card.cert_id}",
                actor=actor,
                enterprise_id=enterprise_id,
                data={"order": order_no},
            )
            if audit is None:
                audit_record_many([entry])
            else:
                audit.append(entry)
            return card
        existing = Card.objects.filter(source_order_no=order_no).first()
        if existing is not None:
            return existing
        cert_id = cert_ids.after(cert_id)
    raise RuntimeError("could not allocate a unique 证书ID")


@transaction.atomic
def card_activate(*, cert_id: str, service_no: str, expires_at: datetime, actor: Actor) -> Card:
    """The signing service reports the claim activated: the card shows its 服务编号 and 服务到期时间 (R3.7).

    Idempotent: a card is activated once, when it is unclaimed; the same claim reported again (the claim page polls
    it) changes nothing, so an expired card stays expired until it is renewed."""
    card = Card.objects.select_for_update().get(cert_id=cert_id)
    if card.status != CardStatus.UNCLAIMED:
        return card
    card.service_no, card.expires_at = service_no, expires_at
    _move(card, CardStatus.ACTIVE, also=["service_no", "expires_at"])
    _record(
        card,
        action="card.activated",
        actor=actor,
        data={"service_no": service_no, "expires_at": expires_at.isoformat()},
        notice=(
            "card_activated",
            _("移动 CA 已开通"),
            _("证书 {cert_id} 已开通，服务编号 {service_no}。").format(cert_id=card.cert_id, service_no=service_no),
        ),
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
    _record(card, action="card.renewal_paid", actor=actor, data={"order": order_no})
    return card


@transaction.atomic
def card_renewed(*, cert_id: str, order_no: str, expires_at: datetime, actor: Actor) -> Card:
    """The signing service completed the renewal: 服务到期时间 moves (R4.2). Idempotent."""
    card = Card.objects.select_for_update().get(cert_id=cert_id)
    if card.renewal_order_no != order_no:
        return card  # already applied
    card.expires_at, card.renewal_order_no = expires_at, ""
    if card.status == CardStatus.EXPIRED:
        _move(card, CardStatus.ACTIVE, also=["expires_at", "renewal_order_no"])
    else:
        card.save(update_fields=["expires_at", "renewal_order_no"])
    _record(
        card,
        action="card.renewed",
        actor=actor,
        data={"order": order_no, "expires_at": expires_at.isoformat()},
        notice=(
            "card_renewed",
            _("移动 CA 已续费"),
            _("证书 {cert_id} 已续费，服务到期时间 {date}。").format(
                cert_id=card.cert_id, date=timezone.localtime(expires_at).strftime("%Y-%m-%d")
            ),
        ),
    )
    return card


def cards_expire_due() -> int:
    """The periodic job: active cards whose 服务到期时间 has passed become 已过期 (a renewal makes them active again).
    One transaction per card, so one card's failure does not hold back the others."""
    due = Card.objects.filter(status=CardStatus.ACTIVE, expires_at__lte=now()).values_list("pk", flat=True)
    return sum(card_expire(card_id=card_id) for card_id in list(due))


@transaction.atomic(durable=True)
def card_expire(*, card_id: int) -> bool:
    """Mark one card expired if it still is active and past its 服务到期时间 (a renewal may have moved it meanwhile)."""
    card = Card.objects.select_for_update().get(pk=card_id)
    if card.status != CardStatus.ACTIVE or card.expires_at is None or card.expires_at > now():
        return False
    _move(card, CardStatus.EXPIRED)
    _record(card, action="card.expired", actor=EXPIRY_JOB, data={"expires_at": card.expires_at.isoformat()})
    return True
