from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Tender(models.Model):
    """A procurement project bidders submit sealed bid files to (created by an operator)."""

    project_no = models.CharField(_("项目编号"), max_length=40, unique=True)
    name = models.CharField(_("项目名称"), max_length=200)
    bid_deadline = models.DateTimeField(_("投标截止时间"))
    opening_at = models.DateTimeField(_("开标时间"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-bid_deadline", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(opening_at__gte=models.F("bid_deadline")), name="opening_after_deadline"
            )
        ]

    def __str__(self) -> str:
        return f"{self.project_no} {self.name}"


class BidStatus(models.TextChoices):
    SIGNING = "signing", _("待签名")
    SUBMITTED = "submitted", _("已递交")
    OPENING = "opening", _("待授权解密")
    OPENED = "opened", _("已解密")
    FAILED = "failed", _("解密失败")
    WITHDRAWN = "withdrawn", _("已撤回")
    REFUSED = "refused", _("未受理")


BID_TRANSITIONS: dict[str, frozenset[str]] = {
    BidStatus.SIGNING: frozenset({BidStatus.SUBMITTED, BidStatus.REFUSED, BidStatus.WITHDRAWN}),
    BidStatus.SUBMITTED: frozenset({BidStatus.OPENING, BidStatus.WITHDRAWN}),
    BidStatus.OPENING: frozenset({BidStatus.OPENED, BidStatus.FAILED, BidStatus.OPENING}),
    BidStatus.OPENED: frozenset(),
    BidStatus.FAILED: frozenset({BidStatus.OPENING}),  # the claimant may authorise again (e.g. refused on the phone)
    BidStatus.WITHDRAWN: frozenset(),
    BidStatus.REFUSED: frozenset(),
}


class Bid(models.Model):
    """One sealed bid file: the envelope header (.p7m), the detached signature (.p7s) and the ciphertext (.bin, a
    private file). The platform never keeps the plaintext before opening."""

    tender = models.ForeignKey(Tender, on_delete=models.PROTECT, related_name="bids")
    enterprise = models.ForeignKey("accounts.Enterprise", on_delete=models.PROTECT, related_name="bids")
    card_cert_id = models.CharField(max_length=17)
    service_no = models.CharField(max_length=40, db_index=True)
    file_name = models.CharField(max_length=200)
    size = models.BigIntegerField()
    content_sha256 = models.CharField(max_length=64)  # what the signature's message digest says
    header = models.BinaryField()
    signed_attributes = models.BinaryField(default=b"")  # browser sealing: what the claimant is asked to sign
    signature = models.BinaryField(default=b"")
    ciphertext_name = models.CharField(max_length=200)  # relative to the private media root
    recipient_serial = models.CharField(max_length=42)
    status = models.CharField(max_length=12, choices=BidStatus.choices, default=BidStatus.SIGNING)
    channel = models.CharField(max_length=10)  # browser | tool
    authorization_handle = models.CharField(max_length=80, blank=True)
    authorization_url = models.URLField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    signature_valid = models.BooleanField(null=True)
    signer_subject = models.CharField(max_length=400, blank=True)
    failure_code = models.CharField(max_length=40, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    plaintext_name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # One live bid per enterprise and tender: a new submission withdraws the previous one.
            models.UniqueConstraint(
                fields=["tender", "enterprise"],
                condition=models.Q(status__in=["submitted", "opening", "opened", "failed"]),
                name="bidding_one_live_bid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.tender.project_no} / {self.file_name} ({self.status})"
