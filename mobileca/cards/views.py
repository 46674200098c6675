"""「CA 续费申领」: the enterprise's cards, their purchase records, and the claim entry (R2.1–R2.4)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from mobileca.accounts.selectors import access_enterprise_by_user
from mobileca.cards.selectors import access_card_by_cert_id, card_list_for_enterprise
from mobileca.orders.selectors import order_list_for_card


@login_required
def card_list(request: HttpRequest) -> HttpResponse:
    enterprise = access_enterprise_by_user(request.user)
    return render(
        request,
        "cards/list.html",
        {"active": "cards", "cards": card_list_for_enterprise(enterprise=enterprise)},
    )


@login_required
def card_orders(request: HttpRequest, cert_id: str) -> HttpResponse:
    enterprise = access_enterprise_by_user(request.user)
    card = access_card_by_cert_id(enterprise=enterprise, cert_id=cert_id)
    orders = order_list_for_card(enterprise=enterprise, card_id=card.pk)
    return render(request, "cards/orders.html", {"active": "cards", "card": card, "orders": orders})


@login_required
def card_claim(request: HttpRequest, cert_id: str) -> HttpResponse:
    enterprise = access_enterprise_by_user(request.user)
    card = access_card_by_cert_id(enterprise=enterprise, cert_id=cert_id)
    return render(request, "cards/claim.html", {"active": "cards", "card": card})
