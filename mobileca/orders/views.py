"""「CA 管理」 → 「CA 新购」 → the payment page (R1.1–R1.6)."""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from mobileca.accounts.actors import actor_for
from mobileca.accounts.selectors import access_enterprise_by_user
from mobileca.cards.selectors import access_card_by_cert_id, card_list_for_enterprise
from mobileca.core.errors import ApplicationError, InvalidInput
from mobileca.core.money import yuan
from mobileca.orders.models import PaymentChannel
from mobileca.orders.selectors import (
    order_list_pending_for_enterprise,
    product_get_for_sale,
    product_list_for_sale,
    region_list_active,
)
from mobileca.orders.services import ENABLED_CHANNELS
from mobileca.payments.selectors import payment_list_late_for_enterprise
from mobileca.payments.services import checkout
from mobileca.physical.services import application_approved
from mobileca.shield import facade as shield


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


@login_required
def checkout_page(request: HttpRequest, product_code: str) -> HttpResponse:
    enterprise = access_enterprise_by_user(request.user)
    product = product_get_for_sale(code=product_code)
    error: ApplicationError | None = None
    # 续费 (R4.1): a renewal of one of the enterprise's cards, paid like a purchase
    renew_cert_id = request.POST.get("renew") or request.GET.get("renew", "")
    renew_card = access_card_by_cert_id(enterprise=enterprise, cert_id=renew_cert_id) if renew_cert_id else None
    if request.method == "POST":
        try:
            expected: Decimal | None = yuan(request.POST.get("expected_amount", ""))
        except (ValueError, TypeError):
            expected = None  # refused by the service with the price-changed message
        try:
            order = checkout(
                user=request.user,  # type: ignore[arg-type]
                enterprise=enterprise,
                product_code=product.code,
                region_code=request.POST.get("region", ""),
                channel=request.POST.get("channel", ""),
                expected_amount=expected,
                client_token=request.POST.get("client_token", ""),
                actor=actor_for(request.user),
                renew_card_id=renew_card.pk if renew_card else None,
            )
        except InvalidInput as exc:
            error = exc
        else:
            return redirect("payments:order_pay", order_no=order.order_no)
    channels = [
        {"value": choice.value, "label": choice.label, "enabled": choice.value in ENABLED_CHANNELS}
        for choice in PaymentChannel
    ]
    return render(
        request,
        "orders/checkout.html",
        {
            "active": "purchase",
            "product": product,
            "renew_card": renew_card,
            "renewal_warnings": shield.renewal_warnings(card_ref=renew_card.cert_id) if renew_card else [],
            "regions": region_list_active(),
            "channels": channels,
            "seller": settings.MOBILECA_SELLER,
            "client_token": secrets.token_urlsafe(24),
            "error": error,
            "selected_region": request.POST.get("region", ""),
            "selected_channel": request.POST.get("channel", ""),
        },
        status=400 if error else 200,
    )
