"""Customer service: read-only lookups of an enterprise (its orders, cards with their claim progress, audit trail),
the customer-service messages, and one action: revoking a card's certificates for key compromise (issue 21), on
its own confirmation page."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from mobileca.accounts.actors import actor_for
from mobileca.accounts.selectors import enterprise_get, enterprise_search
from mobileca.audit.selectors import audit_event_list_for_enterprise
from mobileca.audit.services import audit_record
from mobileca.backoffice.roles import PAGE, operator_of, support_required
from mobileca.cards.selectors import card_get_for_enterprise, card_list_for_enterprise_id
from mobileca.core.errors import ApplicationError
from mobileca.notices.selectors import support_request_list_for_backoffice
from mobileca.notices.services import notify, support_request_answer
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
    revoked = shield.revoked_for_key_compromise(service_nos=[card.service_no for card in cards if card.service_no])
    return render(
        request,
        "backoffice/support_enterprise.html",
        {
            "bo_active": "support",
            "enterprise": enterprise,
            "orders": orders.get_page(request.GET.get("orders")),
            "events": events.get_page(request.GET.get("events")),
            "cards": [(card, progress.get(card.cert_id, "")) for card in cards],
            "revoked": revoked,
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


@support_required
def support_revoke(request: HttpRequest, enterprise_id: int, card_id: int) -> HttpResponse:
    """「吊销证书（密钥泄露）」 of one card (issue 21): a GET, or a POST without ``confirm=yes``, shows what will
    happen — the card, both certificate serials, how many sealed unopened bids become unreadable — and changes
    nothing; the page's own button (``confirm=yes``, with the reason: 工单号/说明) revokes, the operator as actor.
    The claimant is told by SMS and in the enterprise's message centre."""
    enterprise = enterprise_get(enterprise_id=enterprise_id)
    card = card_get_for_enterprise(enterprise=enterprise, card_id=card_id)
    if card is None or not card.service_no:
        raise Http404(_("未找到该证书"))
    reason = request.POST.get("reason", "") if request.method == "POST" else ""
    error, code, status = "", "", 200
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        try:
            with translation.override(settings.LANGUAGE_CODE):  # the record and the notices in the users' language
                revoked = shield.revoke_for_key_compromise(
                    service_no=card.service_no, actor=actor_for(request.user), reason=reason
                )
            with transaction.atomic(), translation.override(settings.LANGUAGE_CODE):  # committed; now the notices
                when = timezone.localtime().strftime("%Y-%m-%d %H:%M")
                text = shield.revoked_notice_text(service_no=revoked.service_no, when=when)
                notify(
                    enterprise_id=enterprise.pk,
                    kind="credential_revoked",
                    title=_("证书已吊销（密钥泄露）：{service_no}").format(service_no=revoked.service_no),
                    body=text,
                    link="/ca/cards/",
                )
                shield.notify_claimant(service_no=revoked.service_no, text=text)
            messages.success(
                request, _("证书 {service_no} 已吊销（密钥泄露），已通知申领人").format(service_no=revoked.service_no)
            )
            return redirect("backoffice:support_enterprise", enterprise_id=enterprise.pk)
        except ApplicationError as exc:
            error, code, status = exc.message, exc.code, exc.status
    preview = shield.revocation_preview(service_no=card.service_no)
    if preview.revoked and not error:
        error, code, status = _("该证书已因密钥泄露吊销，无需再次吊销"), "already_revoked", 409
    return render(
        request,
        "backoffice/support_revoke.html",
        {
            "bo_active": "support",
            "enterprise": enterprise,
            "card": card,
            "preview": preview,
            "reason": reason,
            "reason_max": 200,
            "error": error,
            "error_code": code,
        },
        status=status,
    )
