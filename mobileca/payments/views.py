"""The buyer's side of payment (R1.1–R1.6): the checkout page (product, region, channel → an order), offline
remittance instructions and vouchers; Alipay / WeChat Pay QR codes that the page follows until the order is paid."""

from __future__ import annotations

import logging
import secrets
from decimal import Decimal

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mobileca.accounts.actors import actor_for
from mobileca.accounts.selectors import access_enterprise_by_user
from mobileca.audit.services import Actor
from mobileca.cards.selectors import access_card_by_cert_id
from mobileca.core import inputs
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, Conflict, GatewayError, InvalidInput, NotFound
from mobileca.orders.models import Order, OrderKind, OrderStatus, PaymentChannel
from mobileca.orders.selectors import access_order_by_no, product_get_for_sale, region_list_active
from mobileca.orders.services import ENABLED_CHANNELS, OrderDraft
from mobileca.payments.cancelling import order_cancel_by_buyer
from mobileca.payments.checkout import checkout
from mobileca.payments.gateways.signing import MalformedMessage, SignatureInvalid
from mobileca.payments.models import Payment, PaymentStatus, VoucherStatus
from mobileca.payments.online import alipay_client
from mobileca.payments.opening import alipay_page_pay_url, payment_open_online
from mobileca.payments.query import payment_query
from mobileca.payments.selectors import access_offline_payment, access_payment_of_order, access_voucher_of_order
from mobileca.payments.services import open_voucher, remittance_voucher_upload
from mobileca.shield import facade as shield

log = logging.getLogger(__name__)


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
            # the page's own hidden field, as a person's form reads it (issue 14: 1e9999999 was a decimal.Overflow)
            expected: Decimal | None = inputs.amount(request.POST.get("expected_amount", ""), lenient=True)
        except inputs.BadInput:
            expected = None  # refused by the service with the price-changed message
        try:
            draft = OrderDraft(
                user=request.user,  # type: ignore[arg-type]
                enterprise=enterprise,
                product_code=product.code,
                region_code=request.POST.get("region", ""),
                channel=request.POST.get("channel", ""),
                expected_amount=expected,
                client_token=request.POST.get("client_token", ""),
                renew_card_id=renew_card.pk if renew_card else None,
            )
            order = checkout(draft=draft, actor=actor_for(request.user))
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


@login_required
def order_pay(request: HttpRequest, order_no: str) -> HttpResponse:
    enterprise = access_enterprise_by_user(request.user)
    order = access_order_by_no(enterprise=enterprise, order_no=order_no)
    if order.channel != PaymentChannel.OFFLINE:
        return _online_pay(request, order)
    payment = access_offline_payment(order=order)
    return render(
        request,
        "payments/remittance.html",
        {
            "active": "purchase",
            "order": order,
            "payment": payment,
            "seller": settings.MOBILECA_SELLER,
            "vouchers": payment.vouchers.all(),
            "waiting_vouchers": payment.vouchers.filter(status=VoucherStatus.SUBMITTED).exists(),
            "max_mb": settings.MOBILECA_VOUCHER_MAX_BYTES // (1024 * 1024),
        },
    )


@login_required
@require_POST
def voucher_upload(request: HttpRequest, order_no: str) -> HttpResponse:
    enterprise = access_enterprise_by_user(request.user)
    order = access_order_by_no(enterprise=enterprise, order_no=order_no)
    payment = access_offline_payment(order=order)
    upload = request.FILES.get("voucher")
    try:
        if upload is None:
            raise InvalidInput(_("请选择要上传的汇款凭证"), code="voucher_empty")
        remittance_voucher_upload(payment_id=payment.pk, upload=upload, actor=actor_for(request.user))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("汇款凭证已上传，财务确认到账后订单将自动完成"))
    return redirect("payments:order_pay", order_no=order.order_no)


@login_required
def voucher_download(request: HttpRequest, order_no: str, voucher_id: int) -> FileResponse:
    enterprise = access_enterprise_by_user(request.user)
    order = access_order_by_no(enterprise=enterprise, order_no=order_no)
    return open_voucher(access_voucher_of_order(order=order, voucher_id=voucher_id))


def _online_pay(request: HttpRequest, order: Order) -> HttpResponse:
    payment = access_payment_of_order(order=order)
    gateway_error = ""
    if payment.status == PaymentStatus.PENDING and not payment.qr_content and now() < order.expires_at:
        try:
            payment = payment_open_online(payment_id=payment.pk)
        except GatewayError:
            log.exception("opening %s payment %s failed", payment.channel, payment.out_trade_no)
            gateway_error = _("支付通道暂时无法连接，请稍后刷新页面重试，或选择其他支付方式")
    qr_svg = ""
    if payment.qr_content and payment.status == PaymentStatus.PENDING:
        qr_svg = segno.make(payment.qr_content, error="m").svg_inline(scale=5, border=2)
    return render(
        request,
        "payments/online.html",
        {
            "active": "purchase",
            "order": order,
            "payment": payment,
            "qr_svg": mark_safe(qr_svg),  # noqa: S308 - segno's own SVG of our gateway's URL, no user input
            "gateway_error": gateway_error,
            "demo": settings.MOBILECA_DEMO,
            "expires_at": payment.gateway_expires_at or order.expires_at,
        },
    )


@login_required
def order_status(request: HttpRequest, order_no: str) -> JsonResponse:
    """What the payment page polls: the order's status, and where to go once it is paid."""
    enterprise = access_enterprise_by_user(request.user)
    order = access_order_by_no(enterprise=enterprise, order_no=order_no)
    done = reverse("payments:order_done", args=[order.order_no])
    return JsonResponse({"status": order.status, "next": done if order.status == "paid" else ""})


@login_required
def order_done(request: HttpRequest, order_no: str) -> HttpResponse:
    """Where a payment ends: a paid order says 「支付成功」 on 「CA 续费申领」 (a physical CA on its application page);
    an order not paid (yet) goes back to its own page, which says what is true."""
    enterprise = access_enterprise_by_user(request.user)
    order = access_order_by_no(enterprise=enterprise, order_no=order_no)
    if order.status != OrderStatus.PAID:
        return redirect("payments:order_pay", order_no=order.order_no)
    if order.product.needs_application:
        messages.success(request, _("支付成功：订单 {order} 已支付，实体 CA 将快递寄出。").format(order=order.order_no))
        return redirect("physical:apply")
    if order.kind == OrderKind.RENEWAL:
        text = _("支付成功：续费订单 {order} 已支付。请证书的申领人本人点击「立即申领」扫码完成续费。")
    else:
        text = _("支付成功：订单 {order} 已支付。请在下方证书上点击「立即申领」，扫码申领。")
    messages.success(request, text.format(order=order.order_no))
    return redirect("cards:list")


@login_required
def pay_quit(request: HttpRequest, order_no: str) -> HttpResponse:
    """Where the cashier sends a buyer who gave up paying (Alipay's ``quit_url``): the order, still payable."""
    enterprise = access_enterprise_by_user(request.user)
    order = access_order_by_no(enterprise=enterprise, order_no=order_no)
    if order.status == OrderStatus.PAID:
        return redirect("payments:order_done", order_no=order.order_no)
    if order.status == OrderStatus.PENDING_PAYMENT:
        messages.warning(
            request,
            _("您已在收银台取消付款，订单未支付。可在支付截止前重新支付，或取消订单。"),
        )
    return redirect("payments:order_pay", order_no=order.order_no)


@login_required
def alipay_return(request: HttpRequest) -> HttpResponse:
    """Alipay's synchronous return after a page payment. Its signature is checked, but only the order's own status
    (a notification, or the gateway asked here) says it is paid."""
    enterprise = access_enterprise_by_user(request.user)
    try:
        form = alipay_client().verify_return({key: request.GET.get(key, "") for key in request.GET})
    except (SignatureInvalid, MalformedMessage):
        log.warning("alipay return with a bad signature")
        messages.error(request, _("无法确认支付结果，请在「待支付订单」中查看订单状态"))
        return redirect("orders:purchase")
    payment = Payment.objects.filter(
        out_trade_no=form.get("out_trade_no", ""), order__enterprise=enterprise, channel=PaymentChannel.ALIPAY
    ).first()
    if payment is None:
        raise NotFound(_("未找到该订单"))
    if payment.status == PaymentStatus.PENDING:
        try:
            payment_query(payment_id=payment.pk, actor=Actor("gateway", "alipay-return"))
        except GatewayError:
            log.warning("alipay query on return of %s failed", payment.out_trade_no)
    return redirect("payments:order_done", order_no=payment.order.order_no)


@login_required
def order_cancel(request: HttpRequest, order_no: str) -> HttpResponse:
    """「取消订单」: a confirmation page, then the cancellation (POST). Refusals are said on the order's page."""
    enterprise = access_enterprise_by_user(request.user)
    order = access_order_by_no(enterprise=enterprise, order_no=order_no)
    if request.method == "POST":
        try:
            order_cancel_by_buyer(order=order, actor=actor_for(request.user))
        except Conflict as refused:
            messages.error(request, refused.message)
        else:
            messages.success(request, _("订单 {order} 已取消").format(order=order.order_no))
        return redirect("payments:order_pay", order_no=order.order_no)
    if order.status != OrderStatus.PENDING_PAYMENT:
        messages.info(request, _("该订单不是待支付状态，不能取消"))
        return redirect("payments:order_pay", order_no=order.order_no)
    return render(request, "payments/cancel.html", {"active": "purchase", "order": order})


@login_required
def alipay_page_pay(request: HttpRequest, order_no: str) -> HttpResponse:
    """「电脑网站支付」: send the browser to Alipay's cashier with a signed request."""
    enterprise = access_enterprise_by_user(request.user)
    order = access_order_by_no(enterprise=enterprise, order_no=order_no)
    payment = access_payment_of_order(order=order)
    if order.channel != PaymentChannel.ALIPAY or payment.status != PaymentStatus.PENDING or now() >= order.expires_at:
        raise Conflict(_("该订单不能使用支付宝网页支付"), code="page_pay_unavailable")
    try:
        if not payment.qr_opened_at:
            payment = payment_open_online(payment_id=payment.pk)
        return redirect(alipay_page_pay_url(payment=payment))
    except GatewayError:
        log.exception("alipay page pay for %s failed", payment.out_trade_no)
        messages.error(request, _("支付通道暂时无法连接，请稍后刷新页面重试，或选择其他支付方式"))
        return redirect("payments:order_pay", order_no=order.order_no)
