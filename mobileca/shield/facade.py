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
    kind: str  # claim | renewal
    order_ref: str
    status: str  # waiting | bound | activated
    qr_url: str  # what the QR code holds: the signing service's phone page for this ticket
    ticket_expires_at: datetime
    service_no: str
    service_expires_at: datetime | None


def _ticket(claim: ClaimSession) -> ClaimTicket:
    return ClaimTicket(
        card_ref=claim.card_ref,
        kind=claim.kind,
        order_ref=claim.order_ref,
        status=claim.status,
        qr_url=settings.MOBILECA_PUBLIC_URL + reverse("shield:h5_claim", args=[claim.ticket]),
        ticket_expires_at=claim.ticket_expires_at,
        service_no=claim.service_no,
        service_expires_at=claim.service_expires_at,
    )


def claim_open(*, card_ref: str, enterprise_name: str, enterprise_uscc: str, order_ref: str = "") -> ClaimTicket:
    """The card's claim, or with ``order_ref`` the claim of that paid renewal order (R4.1)."""
    return _ticket(
        services.claim_open(
            card_ref=card_ref,
            platform=settings.MOBILECA_PLATFORM_NAME,
            enterprise_name=enterprise_name,
            enterprise_uscc=enterprise_uscc,
            order_ref=order_ref,
        )
    )


def claim_refresh(*, card_ref: str, order_ref: str = "") -> ClaimTicket:
    return _ticket(services.claim_refresh(card_ref=card_ref, order_ref=order_ref))


@dataclass(frozen=True)
class RenewalWarning:
    tender_no: str
    tender_name: str
    opening_at: datetime
    file_name: str


def renewal_warnings(*, card_ref: str) -> list[RenewalWarning]:
    """R4.2: the card's sealed bid files not yet decrypted, which a renewal would make unreadable."""
    from mobileca.shield.renewal import credential_of_card, pending_bids

    credential = credential_of_card(card_ref)
    if credential is None:
        return []
    return [
        RenewalWarning(bid.tender_no, bid.tender_name, bid.opening_at, bid.file_name)
        for bid in pending_bids(credential)
    ]


def claims_activated(*, card_refs: list[str]) -> list[ClaimTicket]:
    """The activated claims among these cards (the platform reconciles cards whose claim page was not open)."""
    rows = ClaimSession.objects.filter(card_ref__in=card_refs, kind="claim", status="activated")
    return [_ticket(claim) for claim in rows]


def renewals_completed(*, order_refs: list[str]) -> list[ClaimTicket]:
    """The completed renewals among these paid renewal orders, with the new 服务到期时间."""
    rows = ClaimSession.objects.filter(order_ref__in=order_refs, kind="renewal", status="activated")
    return [_ticket(claim) for claim in rows]
