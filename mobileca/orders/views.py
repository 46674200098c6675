"""「CA 管理」 → 「CA 新购」: the home page and the product list (R1.1–R1.3); the checkout page lives with its
service in ``payments.views``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from mobileca.accounts.selectors import access_enterprise_by_user
from mobileca.cards.selectors import card_list_for_enterprise
from mobileca.orders.selectors import order_list_pending_for_enterprise, product_list_for_sale
from mobileca.payments.selectors import payment_list_late_for_enterprise
from mobileca.physical.services import application_approved


@login_required
def ca_home(request: HttpRequest) -> HttpResponse:
    access_enterprise_by_user(request.user)
    return render(request, "orders/ca_home.html", {"active": "home"})


@login_required
def purchase(request: HttpRequest) -> HttpResponse:
    enterprise = access_enterprise_by_user(request.user)
    return render(
        request,
        "orders/purchase.html",
        {
            "active": "purchase",
            "renewable": [card for card in card_list_for_enterprise(enterprise=enterprise) if card.service_no],
            "application_approved": application_approved(enterprise.pk),
            "late_payments": payment_list_late_for_enterprise(enterprise=enterprise)[:20],
            "products": product_list_for_sale(),
            "pending_orders": order_list_pending_for_enterprise(enterprise=enterprise)[:20],
        },
    )
