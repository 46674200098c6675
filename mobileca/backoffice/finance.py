"""Finance: remittances waiting, confirm or reject, statement import, the claim queue, refunds due, all orders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
from mobileca.backoffice.selectors import (
    offline_payment_by_reference,
    payment_for_refund,
    remittance_for_confirmation,
    statement_line_for_confirmation,
)
from mobileca.core import inputs
from mobileca.core.errors import ApplicationError, Conflict, InvalidInput
from mobileca.orders.models import OrderStatus
from mobileca.payments.models import LineStatus, Payment, PaymentStatus, StatementLine
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
    refund_refusal,
    remittance_confirm,
    remittance_confirm_refusal,
    remittance_voucher_reject,
    statement_claim_refusal,
    statement_import,
    statement_line_claim,
    statement_line_return,
    statement_return_refusal,
)

MAX_STATEMENT_BYTES = 5 * 1024 * 1024


def _act(request: HttpRequest, action: Callable[[], str], *, then: str) -> HttpResponse:
    """One finance action from a list page: its success message, or the refusal, shows on the page it returns to."""
    try:
        messages.success(request, action())
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect(then)


def _confirmed(request: HttpRequest) -> bool:
    """Money moves only on the confirmation page's own button: a POST without ``confirm=yes`` (the list's button,
    or a forged request) shows what would happen and changes nothing."""
    return request.POST.get("confirm") == "yes"


@dataclass(frozen=True)
class Confirmation:
    """What a money action is about to do, stated before it is done: its facts (amount, payer, order number), the
    consequence in one sentence, and the form that carries the same fields back with ``confirm=yes``."""

    title: str
    button: str
    consequence: str
    facts: list[tuple[str, str]]
    fields: dict[str, str]
    back: str


def _confirm_page(request: HttpRequest, confirmation: Confirmation) -> HttpResponse:
    context = {"bo_active": confirmation.back.split(":")[1], "confirmation": confirmation, "back": confirmation.back}
    return render(request, "backoffice/confirm.html", context)


def _money(amount: object) -> str:
    return f"¥{amount}"


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


def _remittance_confirmation(payment: Payment) -> Confirmation:
    """Read-only, the refusals ``remittance_confirm`` would give, so that finance is not asked to confirm what
    cannot be confirmed; the service checks again under its locks."""
    order = payment.order
    remittance_confirm_refusal(order, payment)
    vouchers = [f"{voucher.original_name}（{voucher.get_status_display()}）" for voucher in payment.vouchers.all()]
    return Confirmation(
        title=_("确认收款"),
        button=_("确认收款"),
        consequence=_(
            "确认后，订单 {order} 记为已收到 {payer} 的汇款 {amount}，订单完成并发放证书；此操作不能撤销。"
        ).format(order=order.order_no, payer=order.enterprise.name, amount=_money(payment.amount)),
        facts=[
            (_("订单号"), order.order_no),
            (_("付款企业"), order.enterprise.name),
            (_("金额"), _money(payment.amount)),
            (_("汇款识别码"), payment.memo_code or "-"),
            (_("汇款截止"), timezone.localtime(order.expires_at).strftime("%Y-%m-%d %H:%M")),
            (_("凭证"), "、".join(vouchers) or _("未上传")),
        ],
        fields={},
        back="backoffice:remittances",
    )


@finance_required
@require_POST
def remittance_confirm_view(request: HttpRequest, payment_id: int) -> HttpResponse:
    """「确认收款」: the list's button shows the confirmation page; only its own button (``confirm=yes``) acts."""
    if not _confirmed(request):
        try:
            confirmation = _remittance_confirmation(remittance_for_confirmation(payment_id=payment_id))
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("backoffice:remittances")
        return _confirm_page(request, confirmation)

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


def _line_facts(line: StatementLine) -> list[tuple[str, str]]:
    return [
        (_("流水号"), line.bank_txn_id),
        (_("交易时间"), timezone.localtime(line.booked_at).strftime("%Y-%m-%d %H:%M")),
        (_("金额"), _money(line.amount)),
        (_("付款人"), f"{line.payer_name} {line.payer_account}".strip() or "-"),
        (_("附言"), line.memo or "-"),
    ]


def _claim_confirmation(line: StatementLine, reference: str) -> Confirmation:
    """Which order the typed reference names and whether the amounts agree, before the line pays it."""
    payment = offline_payment_by_reference(reference=reference)
    statement_claim_refusal(line, payment)
    assert payment is not None  # refused above otherwise
    order = payment.order
    return Confirmation(
        title=_("确认认领到账"),
        button=_("确认认领"),
        consequence=_("确认后，这笔 {amount} 的到账记为订单 {order}（{enterprise}）的付款；此操作不能撤销。").format(
            amount=_money(line.amount), order=order.order_no, enterprise=order.enterprise.name
        ),
        facts=[
            *_line_facts(line),
            (_("认领到订单"), order.order_no),
            (_("订单企业"), order.enterprise.name),
            (_("订单应付金额"), _money(payment.amount)),
        ],
        fields={"reference": reference},
        back="backoffice:statements",
    )


def _return_confirmation(line: StatementLine, reason: str) -> Confirmation:
    statement_return_refusal(line, reason)
    facts = _line_facts(line)
    if line.payment is not None:
        facts.append((_("订单号"), line.payment.order.order_no))
    facts.append((_("退回说明"), reason.strip()))
    return Confirmation(
        title=_("确认登记退回"),
        button=_("确认登记退回"),
        consequence=_("确认后，这笔 {amount} 的到账登记为已退回给付款人 {payer}；此操作不能撤销。").format(
            amount=_money(line.amount), payer=line.payer_name or "-"
        ),
        facts=facts,
        fields={"reason": reason},
        back="backoffice:statements",
    )


def _preview_line(request: HttpRequest, line_id: int, build: Callable[[StatementLine], Confirmation]) -> HttpResponse:
    try:
        confirmation = build(statement_line_for_confirmation(line_id=line_id))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("backoffice:statements")
    return _confirm_page(request, confirmation)


@finance_required
@require_POST
def line_claim_view(request: HttpRequest, line_id: int) -> HttpResponse:
    reference = request.POST.get("reference", "")
    if not _confirmed(request):
        return _preview_line(request, line_id, lambda line: _claim_confirmation(line, reference))

    def claim() -> str:
        status = statement_line_claim(
            line_id=line_id, reference=request.POST.get("reference", ""), actor=actor_for(request.user)
        )
        return _("认领完成：{status}").format(status=LineStatus(status).label)

    return _act(request, claim, then="backoffice:statements")


@finance_required
@require_POST
def line_return_view(request: HttpRequest, line_id: int) -> HttpResponse:
    reason = request.POST.get("reason", "")
    if not _confirmed(request):
        return _preview_line(request, line_id, lambda line: _return_confirmation(line, reason))

    def give_back() -> str:
        statement_line_return(
            line_id=line_id,
            reason=request.POST.get("reason", ""),
            actor=actor_for(request.user),
            operator=operator_of(request),
        )
        return _("已登记退回")

    return _act(request, give_back, then="backoffice:statements")


def _refund_confirmation(payment: Payment, offline_note: str) -> Confirmation:
    if payment.status == PaymentStatus.REFUNDED:
        raise Conflict(_("该款项已退款，无需重复操作"), code="already_refunded")
    refund_refusal(payment)
    order, note = payment.order, offline_note.strip()
    if note:
        how = _("登记为线下退款（{note}）").format(note=note)
    else:
        how = _("通过{channel}原路退回").format(channel=payment.get_channel_display())
    return Confirmation(
        title=_("确认退款"),
        button=_("确认退款"),
        consequence=_("确认后，{payer} 的 {amount}（订单 {order}）将{how}，并通知该企业；此操作不能撤销。").format(
            amount=_money(payment.amount), how=how, payer=order.enterprise.name, order=order.order_no
        ),
        facts=[
            (_("订单号"), order.order_no),
            (_("付款企业"), order.enterprise.name),
            (_("金额"), _money(payment.amount)),
            (_("支付方式"), payment.get_channel_display()),
            (_("退款方式"), how),
        ],
        fields={"payment_id": str(payment.pk), "offline_note": offline_note},
        back="backoffice:refunds",
    )


@finance_required
def refunds(request: HttpRequest) -> HttpResponse:
    """Money to give back: refund through the channel (Alipay, WeChat Pay) or record an offline refund, each
    after a confirmation page that states the amount, the payer and the order."""
    error, status = "", 200
    if request.method == "POST" and not _confirmed(request):
        try:
            payment = payment_for_refund(payment_id=request.POST.get("payment_id", ""))
            return _confirm_page(request, _refund_confirmation(payment, request.POST.get("offline_note", "")))
        except ApplicationError as exc:
            error, status = exc.message, exc.status
    elif request.method == "POST":
        try:
            refund = payment_refund(
                payment_id=int(request.POST.get("payment_id", "0")),
                operator=operator_of(request),
                offline_note=request.POST.get("offline_note", ""),
            )
            messages.success(
                request,
                _("已退款：订单 {order} {amount}").format(
                    order=refund.payment.order.order_no, amount=_money(refund.amount)
                ),
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
