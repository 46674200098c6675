from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from mobileca.accounts.models import Enterprise
from mobileca.cards.models import Card
from mobileca.core.errors import NotFound


def card_list_for_enterprise(*, enterprise: Enterprise) -> QuerySet[Card]:
    return Card.objects.filter(enterprise=enterprise)


def access_card_by_cert_id(*, enterprise: Enterprise, cert_id: str) -> Card:
    card = Card.objects.filter(enterprise=enterprise, cert_id=cert_id).first()
    if card is None:
        raise NotFound(_("未找到该证书"))
    return card


def card_list_for_enterprise_id(*, enterprise_id: int) -> QuerySet[Card]:
    """An enterprise's cards, most recently bought first (customer service's read-only view)."""
    return Card.objects.filter(enterprise_id=enterprise_id).order_by("-first_purchased_at")


def card_get_for_enterprise(*, enterprise: Enterprise, card_id: int) -> Card | None:
    return Card.objects.filter(pk=card_id, enterprise=enterprise).first()
