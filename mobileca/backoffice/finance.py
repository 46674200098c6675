"""Finance: remittances waiting, confirm or reject, statement import, the claim queue, refunds due, all orders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mobileca.accounts.actors import actor_for
from mobileca.backoffice.roles import PAGE, finance_or_support_required, finance_required, operator_of
from mobileca.core import inputs
from mobileca.core.errors import ApplicationError, InvalidInput
from mobileca.orders.models import OrderStatus
from mobileca.payments.models import LineStatus, Payment
from mobileca.payments.selectors import (
    order_list_for_backoffice,
    payment_list_paid_late,
    payment_list_refund_due,
    payment_list_refunded,
    payment_list_remittances_waiting,
    statement_import_list_recent,
    statement_line_list_to_return,
    statement_line_list_unmatched,
    voucher_get,
)
from mobileca.payments.services import (
    open_voucher,
    payment_refund,
    remittance_confirm,
    remittance_voucher_reject,
    statement_import,
    statement_line_claim,
    statement_line_return,
)

MAX_STATEMENT_BYTES = 5 * 1024 * 1024


def _act(request: HttpRequest, action: Callable[[], str], *, then: str) -> HttpResponse:
    """One finance action from a list page: its success message, or the refusal, shows on the page it returns to."""
    try:
        messages.success(request, action())
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect(then)


@finance_required
def remittances(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "backoffice/remittances.html",
        {
            "bo_active": "remittances",
            "payments": payment_list_remittances_waiting()[:200],
            "paid_late": payment_list_paid_late()[:200],
        },
    )


@finance_required
@require_POST
def remittance_confirm_view(request: HttpRequest, payment_id: int) -> HttpResponse:
    def confirm() -> str:
        remittance_confirm(payment_id=payment_id, actor=actor_for(request.user), operator=operator_of(request))
        return _("已确认收款，订单已完成")

    return _act(request, confirm, then="backoffice:remittances")


@finance_required
def voucher_view(request: HttpRequest, voucher_id: int) -> FileResponse:
    return open_voucher(voucher_get(voucher_id=voucher_id))


@finance_required
@require_POST
def voucher_reject_view(request: HttpRequest, voucher_id: int) -> HttpResponse:
    def reject() -> str:
        remittance_voucher_reject(
            voucher_id=voucher_id,
            reason=request.POST.get("reason", ""),
            actor=actor_for(request.user),
            operator=operator_of(request),
        )
        return _("已驳回该汇款凭证")

    return _act(request, reject, then="backoffice:remittances")


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
                    operator=operator_of(request),
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
            "imports": statement_import_list_recent()[:20],
            "unmatched": statement_line_list_unmatched()[:200],
            "refund_lines": statement_line_list_to_return()[:200],
        },
    )


@finance_required
@require_POST
def line_claim_view(request: HttpRequest, line_id: int) -> HttpResponse:
    def claim() -> str:
        status = statement_line_claim(
            line_id=line_id, reference=request.POST.get("reference", ""), actor=actor_for(request.user)
        )
        return _("认领完成：{status}").format(status=LineStatus(status).label)

    return _act(request, claim, then="backoffice:statements")


@finance_required
@require_POST
def line_return_view(request: HttpRequest, line_id: int) -> HttpResponse:
    def give_back() -> str:
        statement_line_return(
            line_id=line_id,
            reason=request.POST.get("reason", ""),
            actor=actor_for(request.user),
            operator=operator_of(request),
        )
        return _("已登记退回")

    return _act(request, give_back, then="backoffice:statements")


@finance_required
def refunds(request: HttpRequest) -> HttpResponse:
    """Money to give back: refund through the channel (Alipay, WeChat Pay) or record an offline refund."""
    error, status = "", 200
    if request.method == "POST":
        try:
            payment_refund(
                payment_id=int(request.POST.get("payment_id", "0")),
                operator=operator_of(request),
                offline_note=request.POST.get("offline_note", ""),
            )
            return redirect("backoffice:refunds")
        except (ApplicationError, ValueError, Payment.DoesNotExist) as exc:
            error, status = getattr(exc, "message", _("无效的请求")), getattr(exc, "status", 400)
    return render(
        request,
        "backoffice/refunds.html",
        {
            "bo_active": "refunds",
            "due": payment_list_refund_due()[:200],
            "done": payment_list_refunded()[:50],
            "error": error,
        },
        status=status,
    )


def _day_bound(value: str, at: time) -> datetime | None:
    """The start or end of a day typed in the filter; ``None`` for no bound. ``InvalidInput`` for a day outside
    ``core.inputs`` range (``0001-01-01`` overflowed when made aware)."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(_("日期格式应为 YYYY-MM-DD"), code="invalid_date") from None
    if not inputs.in_date_range(day):
        raise InvalidInput(_("日期超出有效范围"), code="date_out_of_range")
    return timezone.make_aware(datetime.combine(day, at))


@finance_or_support_required
def orders(request: HttpRequest) -> HttpResponse:
    """All orders, newest first, filterable by enterprise (name or USCC), status and date, 50 a page: a fixed
    number of queries whatever the page or the table's size (a count, the page's rows with their enterprise, and
    their payments). A date the filter cannot use is said on the page (400), the other filters still apply."""
    query = request.GET.get("q", "").strip()
    status = request.GET.get("status", "")
    error: InvalidInput | None = None
    bounds: dict[str, datetime | None] = {}
    for name, at in (("from", time.min), ("to", time.max)):
        try:
            bounds[name] = _day_bound(request.GET.get(name, "").strip(), at)
        except InvalidInput as exc:
            error, bounds[name] = exc, None
    rows = order_list_for_backoffice(query=query, status=status, created_from=bounds["from"], created_to=bounds["to"])
    page = Paginator(rows, PAGE).get_page(request.GET.get("page"))
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
            "error": error,
        },
        status=400 if error else 200,
    )
