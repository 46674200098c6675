from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ClaimStatus(models.TextChoices):
    WAITING = "waiting", _("等待扫码")
    BOUND = "bound", _("已绑定申领人")
    ACTIVATED = "activated", _("开通成功")
    CANCELLED = "cancelled", _("已作废")


CLAIM_TRANSITIONS: dict[str, frozenset[str]] = {
    ClaimStatus.WAITING: frozenset({ClaimStatus.BOUND, ClaimStatus.CANCELLED}),
    ClaimStatus.BOUND: frozenset({ClaimStatus.ACTIVATED}),
    ClaimStatus.ACTIVATED: frozenset(),
    ClaimStatus.CANCELLED: frozenset(),
}


class ClaimStep(models.TextChoices):
    """Where a bound claim stands on the phone; scanning again resumes here (R3.10)."""

    SERVICE = "service", _("选择证书服务")
    ENTERPRISE = "enterprise", _("创建企业")
    AGREEMENT = "agreement", _("阅读协议")
    FACE = "face", _("人脸识别")
    ENTERPRISE_VERIFY = "enterprise_verify", _("企业实名认证")
    PIN = "pin", _("设置 PIN 码")
    DONE = "done", _("开通成功")


class ClaimSession(models.Model):
    """One claim of one card, as the platform asked for it. Its QR ticket can be renewed while no one has scanned;
    once bound to a phone identity it belongs to that person (谁申领谁使用)."""

    card_ref = models.CharField(max_length=40, db_index=True)  # the platform's 证书ID: an id, not an object
    platform = models.CharField(max_length=64)
    enterprise_name = models.CharField(max_length=200)
    enterprise_uscc = models.CharField(max_length=18)
    term_months = models.PositiveSmallIntegerField(default=12)
    status = models.CharField(max_length=16, choices=ClaimStatus.choices, default=ClaimStatus.WAITING)
    ticket = models.CharField(max_length=64, unique=True)
    ticket_expires_at = models.DateTimeField()
    claimant_account = models.CharField(max_length=64, blank=True)  # the phone identity (Alipay user id)
    bound_at = models.DateTimeField(null=True, blank=True)
    step = models.CharField(max_length=20, choices=ClaimStep.choices, default=ClaimStep.SERVICE)
    service_no = models.CharField(max_length=40, blank=True)
    service_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            # One live claim per card: a new one is only made when the previous was cancelled.
            models.UniqueConstraint(
                fields=["card_ref"],
                condition=models.Q(status__in=["waiting", "bound", "activated"]),
                name="shield_one_live_claim_per_card",
            )
        ]

    def __str__(self) -> str:
        return f"claim {self.card_ref} ({self.status})"


class PhoneAccount(models.Model):
    """A phone identity (Alipay account) known to the service. The resident ID is kept only as a keyed digest (to
    compare with the business registry's legal representative) and its last four characters (to show)."""

    account = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=50)
    resident_id_digest = models.CharField(max_length=64)
    resident_id_tail = models.CharField(max_length=4)
    # Sealed under the master key of the CA back-end (AAD = phone:<account>): the face check needs it in full.
    resident_id_sealed = models.BinaryField(default=b"")
    phone_tail = models.CharField(max_length=4)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} ({self.account})"


class ShieldEnterprise(models.Model):
    """An enterprise as the signing service knows it: created with the name exactly as on its business licence,
    checked against the registry (R3.3). Verification and its admin come with the enterprise verification step."""

    uscc = models.CharField(max_length=18, unique=True)
    name = models.CharField(max_length=200)
    legal_representative = models.CharField(max_length=50)
    legal_representative_id_digest = models.CharField(max_length=64)
    created_by_account = models.CharField(max_length=32)
    created_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_method = models.CharField(max_length=32, blank=True)
    admin_account = models.CharField(max_length=32, blank=True)  # the first person to verify it (R3.9)

    def __str__(self) -> str:
        return self.name


class AgreementAcceptance(models.Model):
    """《e签盾服务协议》《隐私政策》 accepted by a phone account, with the versions and the time (R3.4)."""

    account = models.CharField(max_length=32, db_index=True)
    claim = models.ForeignKey(ClaimSession, on_delete=models.PROTECT, related_name="acceptances")
    service_agreement_version = models.CharField(max_length=20)
    privacy_policy_version = models.CharField(max_length=20)
    accepted_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.account} {self.service_agreement_version}/{self.privacy_policy_version}"


class FaceCheck(models.Model):
    """One liveness check of a claimant, opened by the service; only a signed "passed" moves the claim on (R3.5)."""

    claim = models.ForeignKey(ClaimSession, on_delete=models.PROTECT, related_name="face_checks")
    account = models.CharField(max_length=32)
    check_id = models.CharField(max_length=64, unique=True)
    nonce = models.CharField(max_length=64)
    purpose = models.CharField(max_length=16, default="person")  # person (R3.5) | legal_rep (R3.6)
    outcome = models.CharField(max_length=10, default="pending")  # pending | passed | failed
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.check_id} ({self.outcome})"


class Credential(models.Model):
    """A claimed card's cloud credential: two key pairs kept only wrapped under the master key, their certificates
    (issued by the CA, known here by serial), and the claimant's PIN as an argon2id hash (R3.7)."""

    claim = models.OneToOneField(ClaimSession, on_delete=models.PROTECT, related_name="credential")
    account = models.CharField(max_length=32, db_index=True)
    enterprise_uscc = models.CharField(max_length=18)
    service_no = models.CharField(max_length=40, unique=True)
    sign_key_wrapped = models.BinaryField()
    encrypt_key_wrapped = models.BinaryField()
    sign_serial = models.CharField(max_length=42)
    encrypt_serial = models.CharField(max_length=42)
    pin_hash = models.CharField(max_length=200)
    pin_failures = models.PositiveSmallIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.service_no


class SmsChallenge(models.Model):
    """A 6-digit code sent to the legal representative's phone (手机号认证, R3.6), kept only as a keyed digest."""

    claim = models.ForeignKey(ClaimSession, on_delete=models.PROTECT, related_name="sms_challenges")
    phone_digest = models.CharField(max_length=64, db_index=True)  # for the per-phone limits
    phone_tail = models.CharField(max_length=4)
    code_digest = models.CharField(max_length=64)
    sent_at = models.DateTimeField(db_index=True)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"sms to ***{self.phone_tail}"


class ForwardTransfer(models.Model):
    """正向打款 (R3.6): the service pays a random ¥0.01–0.99 into the enterprise's corporate account; the claimant
    enters the amount received, within 7 days, with at most 3 wrong entries (§7)."""

    claim = models.ForeignKey(ClaimSession, on_delete=models.PROTECT, related_name="forward_transfers")
    bank_name = models.CharField(max_length=100)
    account_name = models.CharField(max_length=200)
    account_no_tail = models.CharField(max_length=4)
    amount_digest = models.CharField(max_length=64)
    wrong_entries = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=10, default="pending")  # pending | verified | failed
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"forward transfer to ***{self.account_no_tail} ({self.status})"
