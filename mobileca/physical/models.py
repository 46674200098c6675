from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from mobileca.core.uploads import private_storage


class ApplicationStatus(models.TextChoices):
    SUBMITTED = "submitted", _("待审核")
    APPROVED = "approved", _("审核通过")
    RETURNED = "returned", _("已退回")


APPLICATION_TRANSITIONS: dict[str, frozenset[str]] = {
    ApplicationStatus.SUBMITTED: frozenset({ApplicationStatus.APPROVED, ApplicationStatus.RETURNED}),
    ApplicationStatus.RETURNED: frozenset({ApplicationStatus.SUBMITTED}),  # corrected and resubmitted
    ApplicationStatus.APPROVED: frozenset(),
}


class Application(models.Model):
    """「CA 办理申请」 for the physical CA: enterprise data, the business-licence scan, contact, delivery address,
    number of keys. One per enterprise; returned ones are corrected and resubmitted (the same row)."""

    enterprise = models.OneToOneField("accounts.Enterprise", on_delete=models.PROTECT, related_name="ca_application")
    enterprise_name = models.CharField(_("企业名称"), max_length=200)
    uscc = models.CharField(_("统一社会信用代码"), max_length=18)
    legal_representative = models.CharField(_("法定代表人"), max_length=50)
    licence = models.FileField(storage=private_storage, upload_to="licences/%Y/%m/")
    licence_content_type = models.CharField(max_length=40)
    contact_name = models.CharField(_("联系人"), max_length=50)
    contact_phone = models.CharField(_("联系电话"), max_length=20)
    address = models.CharField(_("收件地址"), max_length=300)
    key_count = models.PositiveSmallIntegerField(_("Key 数量"), default=1)
    status = models.CharField(max_length=12, choices=ApplicationStatus.choices, default=ApplicationStatus.SUBMITTED)
    reason = models.CharField(_("退回原因"), max_length=200, blank=True)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField()
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [("review_application", "审核：CA 办理申请的审核与实体 CA 发货")]

    def __str__(self) -> str:
        return f"{self.enterprise_name} ({self.status})"


class Shipment(models.Model):
    """A paid physical-CA order waiting for, or sent by, courier."""

    order_no = models.CharField(max_length=32, unique=True)
    enterprise = models.ForeignKey("accounts.Enterprise", on_delete=models.PROTECT, related_name="shipments")
    address = models.CharField(max_length=300)
    contact_name = models.CharField(max_length=50)
    contact_phone = models.CharField(max_length=20)
    key_count = models.PositiveSmallIntegerField(default=1)
    courier = models.CharField(_("快递公司"), max_length=50, blank=True)
    tracking_no = models.CharField(_("快递单号"), max_length=50, blank=True)
    created_at = models.DateTimeField()
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["dispatched_at", "created_at"]

    def __str__(self) -> str:
        return f"{self.order_no} {self.tracking_no or '-'}"
