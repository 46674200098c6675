"""The signing service's door for the platform: card references and frozen dataclasses, never ORM objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.urls import reverse

from mobileca.shield import services
from mobileca.shield.models import ClaimSession


@dataclass(frozen=True)
class ClaimTicket:
    card_ref: str
    status: str  # waiting | bound | activated
    qr_url: str  # what the QR code holds: the signing service's phone page for this ticket
    ticket_expires_at: datetime
    service_no: str
    service_expires_at: datetime | None


def _ticket(claim: ClaimSession) -> ClaimTicket:
    return ClaimTicket(
        card_ref=claim.card_ref,
        status=claim.status,
        qr_url=settings.MOBILECA_PUBLIC_URL + reverse("shield:h5_claim", args=[claim.ticket]),
        ticket_expires_at=claim.ticket_expires_at,
        service_no=claim.service_no,
        service_expires_at=claim.service_expires_at,
    )


def claim_open(*, card_ref: str, enterprise_name: str, enterprise_uscc: str) -> ClaimTicket:
    return _ticket(
        services.claim_open(
            card_ref=card_ref,
            platform=settings.MOBILECA_PLATFORM_NAME,
            enterprise_name=enterprise_name,
            enterprise_uscc=enterprise_uscc,
        )
    )


def claim_refresh(*, card_ref: str) -> ClaimTicket:
    return _ticket(services.claim_refresh(card_ref=card_ref))


def claims_activated(*, card_refs: list[str]) -> list[ClaimTicket]:
    """The activated claims among these cards (the platform reconciles cards whose claim page was not open)."""
    return [_ticket(claim) for claim in ClaimSession.objects.filter(card_ref__in=card_refs, status="activated")]
