"""「CA 续费申领」: the enterprise's cards, their purchase records, and the claim entry (R2.1–R2.4)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from mobileca.accounts.selectors import access_enterprise_by_user
from mobileca.audit.services import Actor
from mobileca.cards.models import Card, CardStatus
from mobileca.cards.selectors import access_card_by_cert_id, card_expiry_reminder_lead, card_list_for_enterprise
from mobileca.cards.services import card_activate, card_renewed
from mobileca.core.clock import now
from mobileca.core.errors import TooMany
from mobileca.orders.selectors import order_list_for_card, product_list_for_sale
from mobileca.shield import facade as shield

if TYPE_CHECKING:  # annotations only: accounts hands its users and enterprises in through its selectors
    from mobileca.accounts.models import Enterprise


@login_required
def card_list(request: HttpRequest) -> HttpResponse:
    enterprise = access_enterprise_by_user(request.user)
    _reconcile_claims(enterprise.pk)
    moment = now()
    h5_home = settings.MOBILECA_PUBLIC_URL.rstrip("/") + reverse("shield:h5_home")
    cards = list(card_list_for_enterprise(enterprise=enterprise))
    # issue 21: a card revoked for key compromise says 「已吊销（密钥泄露）」 and offers no 续费
    revoked = shield.revoked_for_key_compromise(service_nos=[card.service_no for card in cards if card.service_no])
    return render(
        request,
        "cards/list.html",
        {
            "active": "cards",
            "cards": cards,
            "revoked": revoked,
            "products": product_list_for_sale(),
            "now": moment,
            "soon": moment + card_expiry_reminder_lead(),
            "h5_home_url": h5_home,
            "h5_home_qr": mark_safe(  # noqa: S308 - segno's SVG of our own URL
                segno.make(h5_home, error="m").svg_inline(scale=4, border=2)
            ),
            "demo": settings.MOBILECA_DEMO,
        },
    )


def _reconcile_claims(enterprise_id: int) -> None:
    """Cards whose claim or renewal completed while no one watched its page learn it here (two queries when there
    is nothing)."""
    unclaimed = list(
        Card.objects.filter(enterprise_id=enterprise_id, status=CardStatus.UNCLAIMED).values_list("cert_id", flat=True)
    )
    renewing = list(
        Card.objects.filter(enterprise_id=enterprise_id)
        .exclude(renewal_order_no="")
        .values_list("renewal_order_no", flat=True)
    )
    tickets = shield.claims_activated(card_refs=unclaimed) if unclaimed else []
    tickets += shield.renewals_completed(order_refs=renewing) if renewing else []
    for ticket in tickets:
        _apply(ticket)


def _ticket(card: Card, enterprise: Enterprise) -> shield.ClaimTicket:
    """The card's claim, or the claim of its paid renewal (R4.1) when one waits."""
    return shield.claim_open(
        card_ref=card.cert_id,
        enterprise_name=enterprise.name,
        enterprise_uscc=enterprise.uscc,
        order_ref=card.renewal_order_no,
    )


def _apply(ticket: shield.ClaimTicket) -> None:
    """What the signing service reports lands on the card: activation (R3.7) or a completed renewal (R4.2)."""
    if ticket.status != "activated" or ticket.service_expires_at is None:
        return
    actor = Actor("service", "shield")
    if ticket.kind == "renewal":
        card_renewed(
            cert_id=ticket.card_ref, order_no=ticket.order_ref, expires_at=ticket.service_expires_at, actor=actor
        )
    else:
        card_activate(
            cert_id=ticket.card_ref, service_no=ticket.service_no, expires_at=ticket.service_expires_at, actor=actor
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
    # ``panel``: the dialog over 「CA 续费申领」 asks for the panel alone (and refreshes in place)
    panel = (request.POST.get("panel") or request.GET.get("panel")) == "1"
    refusal = ""
    if request.method == "POST":
        try:
            shield.claim_refresh(card_ref=card.cert_id, order_ref=card.renewal_order_no)
        except TooMany as refused:  # refreshed too often: the current code is shown again, with why
            if not panel:
                messages.warning(request, refused.message)
            refusal = refused.message
        if not panel:
            return redirect("cards:claim", cert_id=card.cert_id)
    ticket = _ticket(card, enterprise)
    qr_svg = segno.make(ticket.qr_url, error="m").svg_inline(scale=5, border=2)
    left = max(0, int((ticket.ticket_expires_at - now()).total_seconds()))
    return render(
        request,
        "cards/_claim_dialog.html" if panel else "cards/claim.html",
        {
            "active": "cards",
            "card": card,
            "ticket": ticket,
            "ticket_expired": left <= 0,
            "ticket_left": f"{left // 60:02d}:{left % 60:02d}",  # the countdown's start, also without JavaScript
            "qr_svg": mark_safe(qr_svg),  # noqa: S308 - segno's SVG of our own URL
            "renewal_warnings": shield.renewal_warnings(card_ref=card.cert_id) if card.renewal_order_no else [],
            "demo": settings.MOBILECA_DEMO,
            "refusal": refusal,
        },
    )


@login_required
def card_claim_status(request: HttpRequest, cert_id: str) -> JsonResponse:
    """What the claim page polls: the claim's progress as the signing service reports it."""
    enterprise = access_enterprise_by_user(request.user)
    card = access_card_by_cert_id(enterprise=enterprise, cert_id=cert_id)
    ticket = _ticket(card, enterprise)
    _apply(ticket)
    return JsonResponse(
        {
            "status": ticket.status,
            "kind": ticket.kind,
            "ticket_expires_at": ticket.ticket_expires_at.isoformat(),
            "service_no": ticket.service_no,
            "service_expires_at": (
                timezone.localtime(ticket.service_expires_at).isoformat() if ticket.service_expires_at else None
            ),
        }
    )
