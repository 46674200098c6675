from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from mobileca.core.uploads import private_storage
from mobileca.orders.models import PaymentChannel


class PaymentStatus(models.TextChoices):
    PENDING = "pending", _("待支付")
    PAID = "paid", _("已支付")
    CLOSED = "closed", _("已关闭")
    PAID_LATE = "paid_late", _("关闭后到账（待退款）")
    REFUNDED = "refunded", _("已退款")


PAYMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    PaymentStatus.PENDING: frozenset({PaymentStatus.PAID, PaymentStatus.CLOSED}),
    PaymentStatus.PAID: frozenset({PaymentStatus.REFUNDED}),  # only for a cancelled order (refunds.py)
    # Money that arrives for a closed order is real money: recorded for refund, never dropped.
    PaymentStatus.CLOSED: frozenset({PaymentStatus.PAID_LATE}),
    PaymentStatus.PAID_LATE: frozenset({PaymentStatus.REFUNDED}),
    PaymentStatus.REFUNDED: frozenset(),
}


class Payment(models.Model):
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="payments")
    channel = models.CharField(max_length=16, choices=PaymentChannel.choices)
    out_trade_no = models.CharField(max_length=32, unique=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    status = models.CharField(max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    memo_code = models.CharField(_("汇款识别码"), max_length=16, unique=True, null=True, blank=True)
    created_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    paid_by_event = models.CharField(max_length=200, blank=True)
    # The credit that brought the money (a statement line, later a gateway notification). A finance confirmation
    # pays the order before the money is on a statement; the first matching credit then settles it instead of
    # being taken for a second payment.
    settled_by_event = models.CharField(max_length=200, blank=True)
    # Online channels: what the gateway gave us to show (QR content), when, and until when it can be paid there.
    qr_content = models.TextField(blank=True)
    qr_opened_at = models.DateTimeField(null=True, blank=True)
    gateway_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("支付")
        verbose_name_plural = _("支付")
        constraints = [
            models.UniqueConstraint(fields=["order", "channel"], name="payment_one_per_order_channel"),
        ]
        indexes = [models.Index(fields=["status", "channel"])]
        permissions = [("manage_remittance", "财务：确认线下汇款、导入银行流水、认领到账")]

    def __str__(self) -> str:
        return self.out_trade_no


class PaymentEvent(models.Model):
    """The inbox: every observation of a payment, stored before it is applied, unique per channel and event."""

    channel = models.CharField(max_length=16, choices=PaymentChannel.choices)
    # "notify:" + Alipay's notify_id (documented up to 128 characters), "statement:" + a bank's id (64), …
    event_key = models.CharField(max_length=200)
    payment = models.ForeignKey(Payment, null=True, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=16)
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True)
    payload = models.JSONField(default=dict)
    outcome = models.CharField(max_length=32)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["channel", "event_key"], name="payment_event_once")]

    def __str__(self) -> str:
        return f"{self.channel}:{self.event_key}"


class VoucherStatus(models.TextChoices):
    SUBMITTED = "submitted", _("待审核")
    ACCEPTED = "accepted", _("已确认")
    REJECTED = "rejected", _("已驳回")


VOUCHER_TRANSITIONS: dict[str, frozenset[str]] = {
    VoucherStatus.SUBMITTED: frozenset({VoucherStatus.ACCEPTED, VoucherStatus.REJECTED}),
    VoucherStatus.ACCEPTED: frozenset(),
    VoucherStatus.REJECTED: frozenset(),
}


class RemittanceVoucher(models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="vouchers")
    file = models.FileField(storage=private_storage, upload_to="vouchers/%Y/%m/")
    original_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=VoucherStatus.choices, default=VoucherStatus.SUBMITTED)
    reject_reason = models.CharField(_("驳回原因"), max_length=200, blank=True)
    uploaded_at = models.DateTimeField()
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-uploaded_at", "-id"]

    def __str__(self) -> str:
        return self.original_name


class StatementImport(models.Model):
    file_name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    imported_at = models.DateTimeField()
    line_count = models.PositiveIntegerField(default=0)
    new_count = models.PositiveIntegerField(default=0)
    matched_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-imported_at", "-id"]

    def __str__(self) -> str:
        return self.file_name


class LineStatus(models.TextChoices):
    UNMATCHED = "unmatched", _("待认领")
    MATCHED = "matched", _("已自动匹配")
    CLAIMED = "claimed", _("已人工认领")
    PAID_LATE = "paid_late", _("订单已关闭（待退款）")
    DUPLICATE = "duplicate", _("重复到账（待退款）")
    RETURNED = "returned", _("已退回")


LINE_TRANSITIONS: dict[str, frozenset[str]] = {
    # unmatched → unmatched: automatic matching looked at the line and found no order (the note says why)
    LineStatus.UNMATCHED: frozenset(
        {
            LineStatus.UNMATCHED,
            LineStatus.MATCHED,
            LineStatus.CLAIMED,
            LineStatus.PAID_LATE,
            LineStatus.DUPLICATE,
            LineStatus.RETURNED,
        }
    ),
    LineStatus.MATCHED: frozenset(),
    LineStatus.CLAIMED: frozenset(),
    # money that pays no order goes back to its payer
    LineStatus.PAID_LATE: frozenset({LineStatus.RETURNED}),
    LineStatus.DUPLICATE: frozenset({LineStatus.RETURNED}),
    LineStatus.RETURNED: frozenset(),
}


class StatementLine(models.Model):
    """One credit on the seller's account, from an imported bank statement."""

    statement = models.ForeignKey(StatementImport, on_delete=models.PROTECT, related_name="lines")
    bank_txn_id = models.CharField(_("交易流水号"), max_length=64, unique=True)
    booked_at = models.DateTimeField(_("交易时间"))
    amount = models.DecimalField(_("金额"), max_digits=12, decimal_places=2)
    payer_name = models.CharField(_("付款人户名"), max_length=200)
    payer_account = models.CharField(_("付款人账号"), max_length=64)
    memo = models.CharField(_("附言"), max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=LineStatus.choices, default=LineStatus.UNMATCHED)
    attempted = models.BooleanField(default=False)  # automatic matching has looked at it
    status_note = models.CharField(max_length=200, blank=True)
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="lines")

    class Meta:
        ordering = ["-booked_at", "-id"]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return self.bank_txn_id


class RejectedNotification(models.Model):
    """A notification or callback we refused (forged, another merchant's, unknown order, wrong amount, stale).

    Kept apart from the inbox so that a forgery can never occupy the event key of the real notification.
    """

    channel = models.CharField(max_length=16, choices=PaymentChannel.choices)
    reason = models.CharField(max_length=40)
    out_trade_no = models.CharField(max_length=64, blank=True)
    remote_addr = models.CharField(max_length=64, blank=True)
    headers = models.JSONField(default=dict)
    body = models.TextField()
    received_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.channel}:{self.reason}:{self.out_trade_no}"


class Refund(models.Model):
    """Money given back for a payment that arrived after its order closed: through the channel's refund API
    (Alipay; idempotent by ``out_request_no``) or marked as refunded offline by finance."""

    payment = models.OneToOneField(Payment, on_delete=models.PROTECT, related_name="refund")
    out_request_no = models.CharField(max_length=64, unique=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    method = models.CharField(max_length=10)  # api | offline
    note = models.CharField(max_length=200, blank=True)
    gateway_refund_fee = models.CharField(max_length=20, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"refund {self.out_request_no} ¥{self.amount}"
