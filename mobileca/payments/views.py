"""The buyer's side of offline remittance: instructions, memo code, voucher upload (R1.6)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mobileca.accounts.selectors import access_enterprise_by_user
from mobileca.core.actors import actor_for
from mobileca.core.errors import ApplicationError, InvalidInput, NotFound
from mobileca.orders.selectors import access_order_by_no
from mobileca.payments.models import RemittanceVoucher
from mobileca.payments.services import access_offline_payment, open_voucher, remittance_voucher_upload


@login_required
def order_pay(request: HttpRequest, order_no: str) -> HttpResponse:
    enterprise = access_enterprise_by_user(request.user)
    order = access_order_by_no(enterprise=enterprise, order_no=order_no)
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
    voucher = RemittanceVoucher.objects.filter(pk=voucher_id, payment__order=order).first()
    if voucher is None:
        raise NotFound(_("未找到该凭证"))
    return open_voucher(voucher)
