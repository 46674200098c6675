"""Offline remittance (R1.6): the buyer's transfer vouchers, finance's confirmation or rejection."""

from __future__ import annotations

import hashlib
import logging

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import FileResponse
from django.utils.translation import gettext as _

from mobileca.accounts.models import User
from mobileca.audit.services import Actor, audit_record
from mobileca.core.clock import now
from mobileca.core.errors import Conflict, InvalidInput, NotFound
from mobileca.core.uploads import sniff_voucher_type
from mobileca.orders.models import Order, OrderStatus, PaymentChannel
from mobileca.payments.locks import lock_payment_with_order
from mobileca.payments.models import Payment, PaymentStatus, RemittanceVoucher, VoucherStatus
from mobileca.payments.observe import Observation, Outcome, close_observation, payment_observe_locked
from mobileca.payments.transitions import vouchers_status_move

log = logging.getLogger(__name__)

MAX_VOUCHERS_PER_PAYMENT = 10


def open_voucher(voucher: RemittanceVoucher) -> FileResponse:
    try:
        handle = voucher.file.open("rb")
    except FileNotFoundError:
        log.error("voucher %s: file %s is missing", voucher.pk, voucher.file.name)
        raise NotFound(_("凭证文件不存在，请联系平台客服")) from None
    return FileResponse(handle, content_type=voucher.content_type)


def remittance_confirm_refusal(order: Order, payment: Payment) -> None:
    """Why finance cannot confirm this remittance, raised; nothing when it can. ``remittance_confirm`` checks it
    under the locks; the back office's confirmation page first, unlocked."""
    if payment.status == PaymentStatus.CLOSED or order.status == OrderStatus.CLOSED:
        raise Conflict(_("订单已关闭，不能再确认收款；如款项已到账，请导入银行流水登记为待退款"), code="order_closed")
    if payment.status != PaymentStatus.PENDING:
        raise Conflict(_("该汇款已确认，无需重复操作"), code="already_confirmed")


@transaction.atomic(durable=True)
def remittance_voucher_upload(*, payment_id: int, upload: UploadedFile, actor: Actor) -> RemittanceVoucher:
    """Attach a transfer voucher (PDF/JPEG/PNG, ≤ the configured size) to a pending remittance."""
    content_type = sniff_voucher_type(upload)
    order, payment = lock_payment_with_order(payment_id)
    if payment.status != PaymentStatus.PENDING or now() >= order.expires_at:
        raise Conflict(_("该订单已不是待支付状态，无需再上传凭证"), code="payment_not_pending")
    if payment.vouchers.count() >= MAX_VOUCHERS_PER_PAYMENT:
        raise Conflict(
            _("每个订单最多上传 {count} 份凭证").format(count=MAX_VOUCHERS_PER_PAYMENT), code="too_many_vouchers"
        )
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    voucher = RemittanceVoucher(
        payment=payment,
        original_name=(upload.name or "voucher")[:200],
        content_type=content_type,
        size=upload.size or 0,
        sha256=digest.hexdigest(),
        uploaded_at=now(),
    )
    extension = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}[content_type]
    voucher.file.save(f"{payment.out_trade_no}.{extension}", upload, save=False)
    voucher.save()  # the file is written first: a rollback can leave an orphan file, never a row without one
    audit_record(
        action="remittance.voucher_uploaded",
        subject=f"payment:{payment.out_trade_no}",
        actor=actor,
        enterprise_id=order.enterprise_id,
        data={"sha256": voucher.sha256, "size": voucher.size},
    )
    return voucher


def remittance_confirm(*, payment_id: int, actor: Actor, operator: User) -> Outcome:
    """Finance saw the money arrive: the order is paid. A closed order can no longer be paid this way.

    An order past its deadline is closed here and then refused, so the deadline never depends on when the
    auto-close job last ran.
    """
    if not Payment.objects.filter(pk=payment_id, channel=PaymentChannel.OFFLINE).exists():
        raise NotFound(_("未找到该汇款"))
    refusal: Conflict | None = None
    with transaction.atomic(durable=True):
        order, payment = lock_payment_with_order(payment_id)
        moment = now()
        if payment.status == PaymentStatus.PENDING and moment >= order.expires_at:
            payment_observe_locked(
                order=order, payment=payment, observation=close_observation(payment, moment), actor=actor
            )
        try:
            remittance_confirm_refusal(order, payment)
        except Conflict as exc:
            refusal = exc
        else:
            outcome = payment_observe_locked(
                order=order,
                payment=payment,
                observation=Observation(
                    kind="paid",
                    event_key=f"confirm:{payment.out_trade_no}",
                    amount=payment.amount,
                    at=moment,
                    payload={"operator": operator.pk},
                ),
                actor=actor,
            )
            if outcome != Outcome.PAID:
                raise Conflict(_("订单状态已变化，请刷新后重试"), code=f"confirm_{outcome.value}")
    if refusal is not None:
        raise refusal
    return outcome


@transaction.atomic(durable=True)
def remittance_voucher_reject(*, voucher_id: int, reason: str, actor: Actor, operator: User) -> None:
    reason = reason.strip()
    if not reason:
        raise InvalidInput(_("请填写驳回原因"), code="reason_required")
    payment_id = RemittanceVoucher.objects.filter(pk=voucher_id).values_list("payment_id", flat=True).first()
    if payment_id is None:
        raise NotFound(_("未找到该凭证"))
    order, payment = lock_payment_with_order(payment_id)
    voucher = RemittanceVoucher.objects.select_for_update().get(pk=voucher_id)
    if voucher.status != VoucherStatus.SUBMITTED:
        raise Conflict(_("该凭证已审核"), code="voucher_reviewed")
    if payment.status != PaymentStatus.PENDING:
        raise Conflict(_("该订单已不是待支付状态，不能驳回凭证"), code="payment_not_pending")
    vouchers_status_move(
        order=order,
        payment=payment,
        vouchers=[voucher],
        target=VoucherStatus.REJECTED,
        actor=actor,
        reviewer_id=operator.pk,
        reason=reason,
    )
