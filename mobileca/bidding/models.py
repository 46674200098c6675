from __future__ import annotations

import base64
import binascii
import re
from typing import Final

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

PROJECT_NO_MAX: Final = 40
# A 项目编号 as procurement numbers are written (``JDZ-2026-041``, ``JXZC2023-G1-0012``, ``景采〔2026〕12号``): a letter
# or digit first, then letters, digits and the separators below. Nothing that means something in a URL or a path
# (``/ \ ? # % ~``), no blank, no control character.
_PROJECT_NO: Final = re.compile(r"[^\W_][\w\-.()（）\[\]〔〕【】]*")
_URL_KEY_PREFIX: Final = "~"  # never a project number's first character (see above)


def project_no_problem(value: object) -> str:
    """Why ``value`` cannot be a project number, or "" if it can."""
    if not isinstance(value, str) or not value:
        return str(_("请填写项目编号"))
    if len(value) > PROJECT_NO_MAX:
        return str(_("项目编号不能超过 {n} 个字符").format(n=PROJECT_NO_MAX))
    if _PROJECT_NO.fullmatch(value) is None:
        return str(
            _("项目编号只能包含文字、数字和 - _ . ( ) [ ] 〔 〕 【 】，并以文字或数字开头（不能含 / 、空格等字符）")
        )
    return ""


def validate_project_no(value: object) -> None:
    problem = project_no_problem(value)
    if problem:
        raise ValidationError(problem, code="invalid_project_no")


def tender_url_key(project_no: str) -> str:
    """What stands for the tender in a URL: the project number itself when it is one a tender can be created with
    today, otherwise (a row from before the rule: ``SEC/1``, a blank, ``..``) ``~`` and its URL-safe base64, so that
    no stored value can break a link or a page that lists it."""
    if not project_no_problem(project_no):
        return project_no
    return _URL_KEY_PREFIX + base64.urlsafe_b64encode(project_no.encode()).decode().rstrip("=")


def project_no_from_url_key(key: str) -> str | None:
    """The project number a URL names (``tender_url_key`` reversed); ``None`` if the key cannot be one."""
    if not key.startswith(_URL_KEY_PREFIX):
        return key
    encoded = key.removeprefix(_URL_KEY_PREFIX)
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, ValueError):
        return None


class Tender(models.Model):
    """A procurement project bidders submit sealed bid files to (created by an operator)."""

    project_no = models.CharField(
        _("项目编号"), max_length=PROJECT_NO_MAX, unique=True, validators=[validate_project_no]
    )
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

    @property
    def url_key(self) -> str:
        """The tender in its pages' URLs (``{% url 'bidding:tender' tender.url_key %}``): see ``tender_url_key``."""
        return tender_url_key(self.project_no)


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


class CryptoProfile(models.TextChoices):
    """How a bid file is sealed and signed: by the credential's key profile, chosen when the bid is made."""

    CMS = "cms", _("AES-256-GCM，SHA-256")  # RFC 5652/5083 (cmslib.enveloped, cmslib.signed): ECDSA or RSA keys
    GM = "gm", _("国密 SM2/SM3/SM4（GB/T 35275）")  # cmslib.gm: SM2 credentials


class Bid(models.Model):
    """One sealed bid file: the envelope header (.p7m), the detached signature (.p7s) and the ciphertext (.bin, a
    private file). The platform never keeps the plaintext before opening."""

    tender = models.ForeignKey(Tender, on_delete=models.PROTECT, related_name="bids")
    enterprise = models.ForeignKey("accounts.Enterprise", on_delete=models.PROTECT, related_name="bids")
    card_cert_id = models.CharField(max_length=17)
    service_no = models.CharField(max_length=40, db_index=True)
    file_name = models.CharField(max_length=200)
    size = models.BigIntegerField()
    content_sha256 = models.CharField(max_length=64)  # what the signature's message digest says (CMS profile)
    # Issue 19: the profile the bid is sealed and signed under; for GB/T 35275 bids the content's SM3 (what their
    # signature's message digest says, content_sha256 stays empty) and the CMS flavour the platform wrote.
    crypto_profile = models.CharField(max_length=8, choices=CryptoProfile.choices, default=CryptoProfile.CMS)
    content_sm3 = models.CharField(max_length=64, blank=True)
    gm_flavour = models.CharField(max_length=12, blank=True)
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
    # issue 21: the serial of the encryption certificate from before a renewal whose archived key opened the bid
    # ("" when the card's current key did)
    opened_with_serial = models.CharField(max_length=42, blank=True)
    # Proof of time (issue 17): the RFC 3161 token over the signature value, taken at submission (empty for bids
    # from before the time-stamping authority, or if it could not answer), its genTime, and its check at opening.
    timestamp_token = models.BinaryField(default=b"")
    timestamped_at = models.DateTimeField(null=True, blank=True)
    timestamp_valid = models.BooleanField(null=True)
    timestamp_message = models.CharField(max_length=300, blank=True)
    # Issue 21: the ciphertext file as sealed (its size and streamed SHA-256), what the readiness checks compare the
    # stored file with; empty for bids sealed before the checks.
    ciphertext_bytes = models.BigIntegerField(null=True, blank=True)
    ciphertext_sha256 = models.CharField(max_length=64, blank=True)

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

    @property
    def is_gm(self) -> bool:
        return self.crypto_profile == CryptoProfile.GM

    @property
    def content_digest_hex(self) -> str:
        """The file's digest as the signature states it and the bid page shows it: SM3 or SHA-256."""
        return self.content_sm3 if self.is_gm else self.content_sha256

    @property
    def digest_algorithm(self) -> str:
        return "SM3" if self.is_gm else "SHA-256"


class ReadinessCheck(models.Model):
    """One readiness check of a sealed bid before its opening (「开标前解密检查」, issue 21): when it ran, at which
    lead (``sealed`` at submission, ``3d``/``1d`` before the opening) and what it found. One per bid and lead: the
    bidder hears about each problem once per lead time."""

    bid = models.ForeignKey(Bid, on_delete=models.CASCADE, related_name="readiness_checks")
    lead = models.CharField(max_length=12)
    checked_at = models.DateTimeField()
    outcome = models.CharField(max_length=12)  # ok | problems
    problems = models.JSONField(default=list)  # problem codes (key_readiness's and ciphertext_damaged)

    class Meta:
        ordering = ["checked_at", "id"]
        constraints = [models.UniqueConstraint(fields=["bid", "lead"], name="bidding_one_readiness_check_per_lead")]

    def __str__(self) -> str:
        return f"bid {self.bid_id} {self.lead}: {self.outcome}"


class DecryptTest(models.Model):
    """A 「解密测试」 the bidder ran before the deadline (issue 21): authorised on the phone like the opening, the
    ciphertext decrypted streaming and verified, the plaintext discarded. Never changes the bid's status."""

    bid = models.ForeignKey(Bid, on_delete=models.CASCADE, related_name="decrypt_tests")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    authorization_handle = models.CharField(max_length=80, blank=True)
    authorization_url = models.URLField(max_length=300, blank=True)
    outcome = models.CharField(max_length=12, default="pending")  # pending | passed | failed
    failure_code = models.CharField(max_length=40, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"bid {self.bid_id} decrypt test: {self.outcome}"
