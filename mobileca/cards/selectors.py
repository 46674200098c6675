"""Reads of the platform's certificate cards: for the cards' own pages, and for the parts that use a claimed card
(bidding) without touching ``Card``: they get ``ClaimedCard``, ids and dates, never the row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db.models import Count, Min, Q, QuerySet
from django.utils.translation import gettext as _

from mobileca.cards.models import Card, CardStatus
from mobileca.core.errors import NotFound
from mobileca.shield import facade as shield

if TYPE_CHECKING:  # annotations only: accounts hands its users and enterprises in through its selectors
    from mobileca.accounts.models import Enterprise


def card_list_for_enterprise(*, enterprise: Enterprise) -> QuerySet[Card]:
    return Card.objects.filter(enterprise=enterprise)


def card_expiry_reminder_lead() -> timedelta:
    """From when before its 服务到期时间 a card says 「即将到期」: the signing service's first expiry reminder (§7),
    a rule that lives with its reminder job (shield/renewal.py)."""
    return shield.expiry_reminder_lead()


def access_card_by_cert_id(*, enterprise: Enterprise, cert_id: str) -> Card:
    card = Card.objects.filter(enterprise=enterprise, cert_id=cert_id).first()
    if card is None:
        raise NotFound(_("未找到该证书"))
    return card


@dataclass(frozen=True)
class ClaimedCard:
    """A card whose credential has been claimed (it has a 服务编号): what another part may know of it."""

    cert_id: str
    service_no: str
    enterprise_id: int
    expires_at: datetime | None


def _claimed(card: Card) -> ClaimedCard:
    return ClaimedCard(
        cert_id=card.cert_id, service_no=card.service_no, enterprise_id=card.enterprise_id, expires_at=card.expires_at
    )


def _claimed_cards() -> QuerySet[Card]:
    return Card.objects.exclude(service_no="")


def claimed_card_list_for_enterprise(*, enterprise_id: int) -> list[ClaimedCard]:
    return [_claimed(card) for card in _claimed_cards().filter(enterprise_id=enterprise_id)]


def access_claimed_card_by_cert_id(*, enterprise_id: int, cert_id: str) -> ClaimedCard:
    """The enterprise's claimed card; "not found" for an unclaimed card and for anyone else's."""
    card = _claimed_cards().filter(enterprise_id=enterprise_id, cert_id=cert_id).first()
    if card is None:
        raise NotFound(_("请选择本企业已开通的移动 CA"), code="card_unknown")
    return _claimed(card)


def claimed_card_by_service_no(*, service_no: str) -> ClaimedCard:
    """The claimed card a credential (服务编号) belongs to."""
    card = _claimed_cards().filter(service_no=service_no).first()
    if card is None:
        raise NotFound(_("未找到该证书对应的平台证书卡片"), code="card_unknown")
    return _claimed(card)


def card_list_for_enterprise_id(*, enterprise_id: int) -> QuerySet[Card]:
    """An enterprise's cards, most recently bought first (customer service's read-only view)."""
    return Card.objects.filter(enterprise_id=enterprise_id).order_by("-first_purchased_at")


def card_get_for_enterprise(*, enterprise: Enterprise, card_id: int) -> Card | None:
    return Card.objects.filter(pk=card_id, enterprise=enterprise).first()


@dataclass(frozen=True)
class CardSummary:
    """What the workbench says of an enterprise's mobile CA: how many cards are active, how many wait to be claimed,
    and the earliest 服务到期时间 of the active ones."""

    active: int
    unclaimed: int
    next_expiry: datetime | None


def card_summary_for_enterprise(*, enterprise_id: int) -> CardSummary:
    row = Card.objects.filter(enterprise_id=enterprise_id).aggregate(
        active=Count("pk", filter=Q(status=CardStatus.ACTIVE)),
        unclaimed=Count("pk", filter=Q(status=CardStatus.UNCLAIMED)),
        next_expiry=Min("expires_at", filter=Q(status=CardStatus.ACTIVE)),
    )
    return CardSummary(active=row["active"] or 0, unclaimed=row["unclaimed"] or 0, next_expiry=row["next_expiry"])
