"""Customer service: read-only lookups of an enterprise (its orders, cards with their claim progress, audit trail)
and the customer-service messages."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from mobileca.accounts.actors import actor_for
from mobileca.accounts.selectors import enterprise_get, enterprise_search
from mobileca.audit.selectors import audit_event_list_for_enterprise
from mobileca.audit.services import audit_record
from mobileca.backoffice.roles import PAGE, operator_of, support_required
from mobileca.cards.selectors import card_list_for_enterprise_id
from mobileca.core.errors import ApplicationError
from mobileca.notices.selectors import support_request_list_for_backoffice
from mobileca.notices.services import support_request_answer
from mobileca.orders.selectors import order_list_for_enterprise
from mobileca.shield import facade as shield


@support_required
def support(request: HttpRequest) -> HttpResponse:
    """Find an enterprise by name or unified social credit code."""
    query = request.GET.get("q", "").strip()
    found = enterprise_search(query=query)[:50]
    return render(request, "backoffice/support.html", {"bo_active": "support", "query": query, "enterprises": found})


@support_required
def support_enterprise(request: HttpRequest, enterprise_id: int) -> HttpResponse:
    """Read-only: the enterprise's orders, cards with their claim progress, and its audit trail (paginated). The
    lookup itself is recorded."""
    enterprise = enterprise_get(enterprise_id=enterprise_id)
    with transaction.atomic():
        audit_record(
            action="support.lookup",
            subject=f"enterprise:{enterprise.uscc}",
            actor=actor_for(request.user),
            enterprise_id=enterprise.pk,
        )
    orders = Paginator(order_list_for_enterprise(enterprise_id=enterprise.pk), PAGE)
    events = Paginator(audit_event_list_for_enterprise(enterprise_id=enterprise.pk), PAGE)
    cards = list(card_list_for_enterprise_id(enterprise_id=enterprise.pk))
    progress = shield.claim_progress(card_refs=[card.cert_id for card in cards])
    return render(
        request,
        "backoffice/support_enterprise.html",
        {
            "bo_active": "support",
            "enterprise": enterprise,
            "orders": orders.get_page(request.GET.get("orders")),
            "events": events.get_page(request.GET.get("events")),
            "cards": [(card, progress.get(card.cert_id, "")) for card in cards],
        },
    )


@support_required
def support_requests(request: HttpRequest) -> HttpResponse:
    """Customer-service messages: open ones first; answer one (the enterprise is notified)."""
    error, status = "", 200
    if request.method == "POST":
        try:
            support_request_answer(
                request_id=int(request.POST.get("request_id", "0")),
                operator_id=operator_of(request).pk,
                answer=request.POST.get("answer", ""),
            )
            return redirect("backoffice:support_requests")
        except (ApplicationError, ValueError) as exc:
            error, status = getattr(exc, "message", _("无效的请求")), getattr(exc, "status", 400)
    rows = support_request_list_for_backoffice()[:100]
    return render(
        request,
        "backoffice/support_requests.html",
        {"bo_active": "support_requests", "requests": rows, "error": error},
        status=status,
    )
