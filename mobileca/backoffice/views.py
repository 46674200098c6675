"""Finance: remittances waiting, confirm or reject, statement import, the claim queue, refunds due."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from mobileca.accounts.models import User
from mobileca.accounts.permissions import operator_required
from mobileca.core.actors import actor_for
from mobileca.core.errors import ApplicationError, InvalidInput, NotFound, PermissionDenied
from mobileca.orders.models import PaymentChannel
from mobileca.payments.models import (
    LineStatus,
    Payment,
    PaymentStatus,
    RemittanceVoucher,
    StatementImport,
    StatementLine,
)
from mobileca.payments.services import (
    open_voucher,
    remittance_confirm,
    remittance_voucher_reject,
    statement_import,
    statement_line_claim,
    statement_line_return,
)

FINANCE_PERMISSION = "payments.manage_remittance"
finance_required = operator_required(FINANCE_PERMISSION, message=gettext_lazy("仅财务人员可以访问此页面"))
MAX_STATEMENT_BYTES = 5 * 1024 * 1024


def _operator(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied(_("仅运营人员可以访问后台"))
    return render(request, "backoffice/home.html", {"bo_active": "home"})


@finance_required
def remittances(request: HttpRequest) -> HttpResponse:
    waiting = (
        Payment.objects.filter(channel=PaymentChannel.OFFLINE, status=PaymentStatus.PENDING)
        .select_related("order__enterprise", "order__region")
        .prefetch_related("vouchers")
        .order_by("created_at")[:200]
    )
    paid_late = Payment.objects.filter(status=PaymentStatus.PAID_LATE).select_related("order__enterprise")[:200]
    return render(
        request,
        "backoffice/remittances.html",
        {"bo_active": "remittances", "payments": waiting, "paid_late": paid_late},
    )


@finance_required
@require_POST
def remittance_confirm_view(request: HttpRequest, payment_id: int) -> HttpResponse:
    try:
        remittance_confirm(payment_id=payment_id, actor=actor_for(request.user), operator=_operator(request))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已确认收款，订单已完成"))
    return redirect("backoffice:remittances")


@finance_required
def voucher_view(request: HttpRequest, voucher_id: int) -> FileResponse:
    voucher = RemittanceVoucher.objects.filter(pk=voucher_id).first()
    if voucher is None:
        raise NotFound(_("未找到该凭证"))
    return open_voucher(voucher)


@finance_required
@require_POST
def voucher_reject_view(request: HttpRequest, voucher_id: int) -> HttpResponse:
    try:
        remittance_voucher_reject(
            voucher_id=voucher_id,
            reason=request.POST.get("reason", ""),
            actor=actor_for(request.user),
            operator=_operator(request),
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已驳回该汇款凭证"))
    return redirect("backoffice:remittances")


@finance_required
def statements(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        upload = request.FILES.get("statement")
        if upload is None or not upload.size:
            messages.error(request, _("请选择银行流水文件（CSV）"))
        elif upload.size > MAX_STATEMENT_BYTES:
            messages.error(request, _("银行流水文件不能超过 5 MB"))
        else:
            try:
                result = statement_import(
                    file_name=upload.name or "statement.csv",
                    raw=upload.read(),
                    operator=_operator(request),
                    actor=actor_for(request.user),
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(
                    request,
                    _(
                        "导入完成：{lines} 笔入账，新增 {new} 笔，自动匹配 {matched} 笔，"
                        "待认领 {unmatched} 笔，待退款 {refund} 笔"
                    ).format(
                        lines=result.lines,
                        new=result.new,
                        matched=result.matched,
                        unmatched=result.unmatched,
                        refund=result.refund,
                    ),
                )
        return redirect("backoffice:statements")
    return render(
        request,
        "backoffice/statements.html",
        {
            "bo_active": "statements",
            "imports": StatementImport.objects.select_related("imported_by")[:20],
            "unmatched": StatementLine.objects.filter(status=LineStatus.UNMATCHED).order_by("booked_at")[:200],
            "refund_lines": StatementLine.objects.filter(
                status__in=[LineStatus.PAID_LATE, LineStatus.DUPLICATE]
            ).select_related("payment__order")[:200],
        },
    )


@finance_required
@require_POST
def line_claim_view(request: HttpRequest, line_id: int) -> HttpResponse:
    try:
        status = statement_line_claim(
            line_id=line_id, reference=request.POST.get("reference", ""), actor=actor_for(request.user)
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("认领完成：{status}").format(status=LineStatus(status).label))
    return redirect("backoffice:statements")


@finance_required
@require_POST
def line_return_view(request: HttpRequest, line_id: int) -> HttpResponse:
    try:
        statement_line_return(
            line_id=line_id,
            reason=request.POST.get("reason", ""),
            actor=actor_for(request.user),
            operator=_operator(request),
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已登记退回"))
    return redirect("backoffice:statements")


# --- tenders (bid files, R5) ---------------------------------------------------------------------------------

TENDER_PERMISSION = "bidding.add_tender"
tender_operator_required = operator_required(TENDER_PERMISSION, message=gettext_lazy("仅招标代理人员可以访问此页面"))


def _local_datetime(value: str) -> datetime | None:
    from django.utils import timezone

    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else timezone.make_aware(parsed)


@tender_operator_required
def tenders(request: HttpRequest) -> HttpResponse:
    """Operators create tenders (项目编号, name, bid deadline, opening time) and follow their bids."""
    from mobileca.bidding.models import Tender
    from mobileca.bidding.services import tender_create

    error, status = "", 200
    if request.method == "POST":
        deadline = _local_datetime(request.POST.get("bid_deadline", ""))
        opening = _local_datetime(request.POST.get("opening_at", ""))
        try:
            if deadline is None or opening is None:
                raise InvalidInput(_("请填写投标截止时间和开标时间"), code="tender_incomplete")
            tender_create(
                operator=_operator(request),
                project_no=request.POST.get("project_no", ""),
                name=request.POST.get("name", ""),
                bid_deadline=deadline,
                opening_at=opening,
            )
            return redirect("backoffice:tenders")
        except ApplicationError as exc:
            error, status = exc.message, exc.status
    rows = Tender.objects.order_by("-bid_deadline")[:100]
    return render(
        request, "backoffice/tenders.html", {"bo_active": "tenders", "tenders": rows, "error": error}, status=status
    )


@tender_operator_required
def tender_bids(request: HttpRequest, project_no: str) -> HttpResponse:
    """The opening overview: every bid with its state and, once opened, the result."""
    from mobileca.bidding.services import tender_get

    tender = tender_get(project_no)
    bids = tender.bids.select_related("enterprise").exclude(status="withdrawn").order_by("enterprise__name")
    return render(request, "backoffice/tender_bids.html", {"bo_active": "tenders", "tender": tender, "bids": bids})


# --- support (read-only lookups) and audit (chain verification, export) -------------------------------------

SUPPORT_PERMISSION = "accounts.support_lookup"
AUDIT_PERMISSION = "audit.verify_audit_chain"
support_required = operator_required(SUPPORT_PERMISSION, message=gettext_lazy("仅客服人员可以访问此页面"))
auditor_required = operator_required(AUDIT_PERMISSION, message=gettext_lazy("仅审计人员可以访问此页面"))
PAGE = 50


@support_required
def support(request: HttpRequest) -> HttpResponse:
    """Find an enterprise by name or unified social credit code."""
    from mobileca.accounts.models import Enterprise

    query = request.GET.get("q", "").strip()
    found = Enterprise.objects.none()
    if query:
        found = (Enterprise.objects.filter(uscc=query.upper()) | Enterprise.objects.filter(name__icontains=query))[:50]
    return render(request, "backoffice/support.html", {"bo_active": "support", "query": query, "enterprises": found})


@support_required
def support_enterprise(request: HttpRequest, enterprise_id: int) -> HttpResponse:
    """Read-only: the enterprise's orders, cards with their claim progress, and its audit trail (paginated). The
    lookup itself is recorded."""
    from django.core.paginator import Paginator
    from django.db import transaction

    from mobileca.accounts.models import Enterprise
    from mobileca.audit.models import AuditEvent
    from mobileca.audit.services import audit_record
    from mobileca.cards.models import Card
    from mobileca.orders.models import Order
    from mobileca.shield import facade as shield

    enterprise = Enterprise.objects.filter(pk=enterprise_id).first()
    if enterprise is None:
        raise NotFound(_("未找到该企业"))
    with transaction.atomic():
        audit_record(
            action="support.lookup",
            subject=f"enterprise:{enterprise.uscc}",
            actor=actor_for(request.user),
            enterprise_id=enterprise.pk,
        )
    orders = Paginator(Order.objects.filter(enterprise=enterprise).order_by("-created_at", "-id"), PAGE)
    events = Paginator(AuditEvent.objects.filter(enterprise_id=enterprise.pk).order_by("-seq"), PAGE)
    cards = list(Card.objects.filter(enterprise=enterprise).order_by("-first_purchased_at"))
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


@auditor_required
def audit(request: HttpRequest) -> HttpResponse:
    """Verify the whole hash chain now, and export it (CSV, streamed)."""
    from mobileca.audit.services import audit_chain_verify

    report = audit_chain_verify() if request.method == "POST" else None
    return render(request, "backoffice/audit.html", {"bo_active": "audit", "report": report})


@auditor_required
def audit_export(request: HttpRequest) -> HttpResponseBase:
    import csv
    import io

    from django.http import StreamingHttpResponse

    from mobileca.audit.models import AuditEvent

    def rows() -> Any:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(
            ["seq", "occurred_at", "actor", "action", "subject", "enterprise_id", "data", "prev_hash", "hash"]
        )
        for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=2000):
            writer.writerow(
                [event.seq, event.occurred_at.isoformat(), event.actor, event.action, event.subject,
                 event.enterprise_id or "", json.dumps(event.data, ensure_ascii=False), event.prev_hash, event.hash]
            )  # fmt: skip
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit-chain.csv"'
    return response


@finance_required
def refunds(request: HttpRequest) -> HttpResponse:
    """Late money to give back: refund through the channel (Alipay) or record an offline refund."""
    from mobileca.payments.refunds import payment_refund

    error, status = "", 200
    if request.method == "POST":
        try:
            payment_refund(
                payment_id=int(request.POST.get("payment_id", "0")),
                operator=_operator(request),
                offline_note=request.POST.get("offline_note", ""),
            )
            return redirect("backoffice:refunds")
        except (ApplicationError, ValueError, Payment.DoesNotExist) as exc:
            error, status = getattr(exc, "message", _("无效的请求")), getattr(exc, "status", 400)
    from django.db.models import Q

    from mobileca.orders.models import OrderStatus

    due = Payment.objects.select_related("order", "order__enterprise").filter(
        Q(status=PaymentStatus.PAID_LATE) | Q(status=PaymentStatus.PAID, order__status=OrderStatus.CANCELLED)
    )
    done = Payment.objects.select_related("order", "order__enterprise", "refund").filter(status=PaymentStatus.REFUNDED)
    return render(
        request,
        "backoffice/refunds.html",
        {"bo_active": "refunds", "due": due.order_by("created_at")[:200], "done": done.order_by("-created_at")[:50],
         "error": error},
        status=status,
    )  # fmt: skip


@operator_required(FINANCE_PERMISSION, SUPPORT_PERMISSION, message=gettext_lazy("仅财务或客服人员可以访问此页面"))
def orders(request: HttpRequest) -> HttpResponse:
    """All orders, newest first, filterable by enterprise (name or USCC), status and date, 50 a page: a fixed
    number of queries whatever the page or the table's size (a count, the page's rows with their enterprise, and
    their payments)."""
    from datetime import date, time

    from django.core.paginator import Paginator
    from django.db.models import Prefetch
    from django.utils import timezone

    from mobileca.orders.models import Order, OrderStatus

    rows = Order.objects.select_related("enterprise").order_by("-created_at", "-id")
    query = request.GET.get("q", "").strip()
    if query:
        rows = rows.filter(enterprise__uscc=query.upper()) | rows.filter(enterprise__name__icontains=query)
    status = request.GET.get("status", "")
    if status in OrderStatus.values:
        rows = rows.filter(status=status)
    for key, lookup, at in (("from", "created_at__gte", time.min), ("to", "created_at__lte", time.max)):
        try:
            day = date.fromisoformat(request.GET.get(key, ""))
        except ValueError:
            continue
        rows = rows.filter(**{lookup: timezone.make_aware(datetime.combine(day, at))})
    page = Paginator(
        rows.prefetch_related(Prefetch("payments", queryset=Payment.objects.order_by("created_at"))), PAGE
    ).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "backoffice/orders.html",
        {
            "bo_active": "orders",
            "page": page,
            "statuses": OrderStatus.choices,
            "filters": {
                "q": query,
                "status": status,
                "from": request.GET.get("from", ""),
                "to": request.GET.get("to", ""),
            },
            "querystring": params.urlencode(),
        },
    )


@support_required
def support_requests(request: HttpRequest) -> HttpResponse:
    """Customer-service messages: open ones first; answer one (the enterprise is notified)."""
    from mobileca.notices.models import SupportRequest
    from mobileca.notices.services import support_request_answer

    error, status = "", 200
    if request.method == "POST":
        try:
            support_request_answer(
                request_id=int(request.POST.get("request_id", "0")),
                operator_id=_operator(request).pk,
                answer=request.POST.get("answer", ""),
            )
            return redirect("backoffice:support_requests")
        except (ApplicationError, ValueError) as exc:
            error, status = getattr(exc, "message", _("无效的请求")), getattr(exc, "status", 400)
    rows = SupportRequest.objects.select_related("enterprise", "user").order_by("answered_at", "-created_at")[:100]
    return render(
        request,
        "backoffice/support_requests.html",
        {"bo_active": "support_requests", "requests": rows, "error": error},
        status=status,
    )
