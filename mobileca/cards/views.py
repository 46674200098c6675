"""「CA 续费申领」: the enterprise's cards, their purchase records, and the claim entry (R2.1–R2.4)."""

from __future__ import annotations

import segno
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.safestring import mark_safe

from mobileca.accounts.selectors import access_enterprise_by_user
from mobileca.audit.services import Actor
from mobileca.cards.models import Card, CardStatus
from mobileca.cards.selectors import access_card_by_cert_id, card_list_for_enterprise
from mobileca.cards.services import card_activate
from mobileca.orders.selectors import order_list_for_card
from mobileca.shield import facade as shield


@login_required
def card_list(request: HttpRequest) -> HttpResponse:
    enterprise = access_enterprise_by_user(request.user)
    _reconcile_claims(enterprise.pk)
    return render(
        request,
        "cards/list.html",
        {"active": "cards", "cards": card_list_for_enterprise(enterprise=enterprise)},
    )


def _reconcile_claims(enterprise_id: int) -> None:
    """Cards whose claim completed while no one watched its page learn it here (one query when there is nothing)."""
    unclaimed = list(
        Card.objects.filter(enterprise_id=enterprise_id, status=CardStatus.UNCLAIMED).values_list("cert_id", flat=True)
    )
    if not unclaimed:
        return
    for ticket in shield.claims_activated(card_refs=unclaimed):
        if ticket.service_expires_at is not None:
            card_activate(
                cert_id=ticket.card_ref,
                service_no=ticket.service_no,
                expires_at=ticket.service_expires_at,
                actor=Actor("service", "shield"),
            )


@login_required
def card_orders(request: HttpRequest, cert_id: str) -> HttpResponse:
    enterprise = access_enterprise_by_user(request.user)
    card = access_card_by_cert_id(enterprise=enterprise, cert_id=cert_id)
    orders = order_list_for_card(enterprise=enterprise, card_id=card.pk)
    return render(request, "cards/orders.html", {"active": "cards", "card": card, "orders": orders})


@login_required
def card_claim(request: HttpRequest, cert_id: str) -> HttpResponse:
    """「立即申领」 (R2.4): the signing service's QR code for this card, valid ten minutes and refreshable; the page
    follows the claim."""
    enterprise = access_enterprise_by_user(request.user)
    card = access_card_by_cert_id(enterprise=enterprise, cert_id=cert_id)
    if request.method == "POST":
        shield.claim_refresh(card_ref=card.cert_id)
        return redirect("cards:claim", cert_id=card.cert_id)
    ticket = shield.claim_open(card_ref=card.cert_id, enterprise_name=enterprise.name, enterprise_uscc=enterprise.uscc)
    qr_svg = segno.make(ticket.qr_url, error="m").svg_inline(scale=5, border=2)
    return render(
        request,
        "cards/claim.html",
        {
            "active": "cards",
            "card": card,
            "ticket": ticket,
            "qr_svg": mark_safe(qr_svg),  # noqa: S308 - segno's SVG of our own URL
            "demo": settings.MOBILECA_DEMO,
        },
    )


@login_required
def card_claim_status(request: HttpRequest, cert_id: str) -> JsonResponse:
    """What the claim page polls: the claim's progress as the signing service reports it."""
    enterprise = access_enterprise_by_user(request.user)
    card = access_card_by_cert_id(enterprise=enterprise, cert_id=cert_id)
    ticket = shield.claim_open(card_ref=card.cert_id, enterprise_name=enterprise.name, enterprise_uscc=enterprise.uscc)
    if ticket.status == "activated" and ticket.service_expires_at is not None:
        card_activate(
            cert_id=card.cert_id,
            service_no=ticket.service_no,
            expires_at=ticket.service_expires_at,
            actor=Actor("service", "shield"),
        )
    return JsonResponse(
        {
            "status": ticket.status,
            "ticket_expires_at": ticket.ticket_expires_at.isoformat(),
            "service_no": ticket.service_no,
            "service_expires_at": (
                timezone.localtime(ticket.service_expires_at).isoformat() if ticket.service_expires_at else None
            ),
        }
    )
