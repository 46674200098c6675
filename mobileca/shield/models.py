from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from mobileca.ca.facade import DEFAULT_KEY_PROFILE
from mobileca.core.uploads import private_storage


class ClaimStatus(models.TextChoices):
    """A claim waits for its claimant, is bound to them, and is activated. It is never cancelled: a claim bound to a
    person stays theirs (谁申领谁使用), and a removed member's claim goes back to waiting for the admin instead."""

    WAITING = "waiting", _("等待扫码")
    BOUND = "bound", _("已绑定申领人")
    ACTIVATED = "activated", _("开通成功")


class ClaimStep(models.TextChoices):
    """Where a bound claim stands on the phone; scanning again resumes here (R3.10)."""

    SERVICE = "service", _("选择证书服务")
    ENTERPRISE = "enterprise", _("创建企业")
    AGREEMENT = "agreement", _("阅读协议")
    FACE = "face", _("人脸识别")
    ENTERPRISE_VERIFY = "enterprise_verify", _("企业实名认证")
    APPROVAL = "approval", _("等待管理员审批")
    RENEWAL = "renewal", _("确认续费")
    PIN = "pin", _("设置 PIN 码")
    DONE = "done", _("开通成功")


class ClaimSession(models.Model):
    """One claim of one card, as the platform asked for it. Its QR ticket can be renewed while no one has scanned;
    once bound to a phone identity it belongs to that person (谁申领谁使用)."""

    card_ref = models.CharField(max_length=40, db_index=True)  # the platform's 证书ID: an id, not an object
    kind = models.CharField(max_length=10, default="claim")  # claim (R2.4) | renewal (R4.1)
    order_ref = models.CharField(max_length=32, blank=True)  # a renewal's paid order on the platform
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
    # 手机号认证: phone numbers typed that are not the registry's record for the legal representative (each counted,
    # nothing sent); past ``otp.PHONE_MISMATCHES_PER_CLAIM`` the method is closed for this claim
    phone_mismatches = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            # One claim per card (the condition names every status: kept as it was made).
            models.UniqueConstraint(
                fields=["card_ref"],
                condition=models.Q(kind="claim", status__in=["waiting", "bound", "activated"]),
                name="shield_one_live_claim_per_card",
            ),
            # One renewal in progress per card, and one renewal claim per paid renewal order.
            models.UniqueConstraint(
                fields=["card_ref"],
                condition=models.Q(kind="renewal", status__in=["waiting", "bound"]),
                name="shield_one_open_renewal_per_card",
            ),
            models.UniqueConstraint(
                fields=["order_ref"], condition=~models.Q(order_ref=""), name="shield_one_claim_per_order"
            ),
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
    # The phone number: a keyed digest to match a member the admin added by name and phone, and sealed under the
    # master key (AAD = phone-number:<account>) to send the notices (「添加成功」).
    phone_digest = models.CharField(max_length=64, blank=True, db_index=True)
    phone_sealed = models.BinaryField(default=b"")
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


class FaceOutcome(models.TextChoices):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"


class FaceCheck(models.Model):
    """One liveness check of a claimant, opened by the service; only a signed "passed" moves the claim on (R3.5)."""

    claim = models.ForeignKey(ClaimSession, on_delete=models.PROTECT, related_name="face_checks")
    account = models.CharField(max_length=32)
    check_id = models.CharField(max_length=64, unique=True)
    nonce = models.CharField(max_length=64)
    # person (R3.5) | legal_rep (R3.6) | pin_reset (R4.3) | revoke (issue 21)
    purpose = models.CharField(max_length=16, default="person")
    outcome = models.CharField(max_length=10, choices=FaceOutcome.choices, default=FaceOutcome.PENDING)
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    consumed_at = models.DateTimeField(null=True, blank=True)  # a passed pin_reset check sets one new PIN

    def __str__(self) -> str:
        return f"{self.check_id} ({self.outcome})"


class Credential(models.Model):
    """A claimed card's cloud credential: two key pairs kept only wrapped under the master key, their certificates
    (issued by the CA, known here by serial), and the claimant's PIN as an argon2id hash (R3.7)."""

    claim = models.OneToOneField(ClaimSession, on_delete=models.PROTECT, related_name="credential")
    account = models.CharField(max_length=32, db_index=True)
    enterprise_uscc = models.CharField(max_length=18)
    service_no = models.CharField(max_length=40, unique=True)
    # The key profile (algorithm, curve or size, OIDs) both key pairs were made with: a ``KeyProfile.name`` of the CA.
    key_profile = models.CharField(max_length=20, default=DEFAULT_KEY_PROFILE.name)
    # "service": both private keys wrapped here (sign_key_wrapped, encrypt_key_wrapped); "split": two-party SM2
    # (issue 20), the keys split between the claimant's phone and CosignShare, the wrapped fields empty
    key_custody = models.CharField(max_length=8, default="service")
    sign_key_wrapped = models.BinaryField()
    encrypt_key_wrapped = models.BinaryField()
    sign_serial = models.CharField(max_length=42)
    encrypt_serial = models.CharField(max_length=42)
    pin_hash = models.CharField(max_length=200)
    pin_failures = models.PositiveSmallIntegerField(default=0)  # wrong PINs in a row (§7 lock-out)
    locked_until = models.DateTimeField(null=True, blank=True)
    pin_changed_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    reminded_30_at = models.DateTimeField(null=True, blank=True)  # expiry reminders (§7: 30 and 7 days before)
    reminded_7_at = models.DateTimeField(null=True, blank=True)
    # Why the service revoked the credential's certificates itself (issue 21): "affiliation_changed" (the claimant
    # was removed from the enterprise: the claimant may still decrypt, with the PIN, what was sealed for them) or
    # "key_compromise" (nothing may be decrypted any more, the archived keys are destroyed); "" otherwise.
    revoked_reason = models.CharField(max_length=32, blank=True, default="")

    def __str__(self) -> str:
        return self.service_no


class ArchivedEncryptionKey(models.Model):
    """A credential's former encryption key, kept after a renewal's re-key (issue 21, R4.1, R5.2): still wrapped
    under the master key (owner ``credential:<service_no>:archived:<serial>``, so the wrap names this archived key),
    usable only to decrypt envelopes addressed to its certificate ``serial``, by the claimant with the PIN. Signing
    keys are never archived. Destroyed (the wrapped key erased) when the credential is revoked for key compromise.
    A split credential's (issue 20) archived key is its former encryption share instead (``cosign_share``, archived
    there; ``key_wrapped`` empty): the phone keeps its old half, the service its d2, and both are still needed."""

    credential = models.ForeignKey(Credential, on_delete=models.PROTECT, related_name="archived_encryption_keys")
    serial = models.CharField(max_length=42, unique=True)
    key_wrapped = models.BinaryField()
    cosign_share = models.OneToOneField(
        "CosignShare", null=True, blank=True, on_delete=models.PROTECT, related_name="archive"
    )
    archived_at = models.DateTimeField()
    destroyed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"archived encryption key {self.serial}"


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


class TransferStatus(models.TextChoices):
    SENDING = "sending", _("打款中")  # 正向打款: counted and recorded before the bank is asked to pay
    PENDING = "pending", _("待确认")
    VERIFIED = "verified", _("已认证")
    FAILED = "failed", _("已失效")


class ForwardTransfer(models.Model):
    """正向打款 (R3.6): the service pays a random ¥0.01–0.99 into the enterprise's corporate account; the claimant
    enters the amount received, within 7 days, with at most 3 wrong entries (§7). The row is written (``sending``,
    counted against the caps) before the bank is asked to pay, and becomes ``pending`` once it has paid."""

    claim = models.ForeignKey(ClaimSession, on_delete=models.PROTECT, related_name="forward_transfers")
    bank_name = models.CharField(max_length=100)
    account_name = models.CharField(max_length=200)
    account_no_tail = models.CharField(max_length=4)
    amount_digest = models.CharField(max_length=64)
    wrong_entries = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=10, choices=TransferStatus.choices, default=TransferStatus.PENDING)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"forward transfer to ***{self.account_no_tail} ({self.status})"


class ReverseTransfer(models.Model):
    """反向打款 (R3.6, §7): the enterprise pays ¥0.01 from its corporate account to an account the bank opened for
    this application alone, with a given memo, and uploads the voucher. It is verified only when the bank's
    statement shows that credit, from that account, with that memo and amount; the voucher alone proves nothing."""

    claim = models.ForeignKey(ClaimSession, on_delete=models.PROTECT, related_name="reverse_transfers")
    payer_bank_name = models.CharField(max_length=100)
    payer_account_name = models.CharField(max_length=200)
    payer_account_digest = models.CharField(max_length=64)
    payer_account_tail = models.CharField(max_length=4)
    to_account = models.CharField(max_length=32, unique=True)  # the per-application (virtual) account
    to_account_name = models.CharField(max_length=200)
    amount = models.DecimalField(max_digits=6, decimal_places=2)
    memo = models.CharField(max_length=20, unique=True)
    status = models.CharField(max_length=10, choices=TransferStatus.choices, default=TransferStatus.PENDING)
    voucher = models.FileField(storage=private_storage, upload_to="transfer-vouchers/%Y/%m/", blank=True)
    voucher_content_type = models.CharField(max_length=40, blank=True)
    voucher_sha256 = models.CharField(max_length=64, blank=True)
    voucher_uploaded_at = models.DateTimeField(null=True, blank=True)
    credit_ref = models.CharField(max_length=40, blank=True)  # the bank's id of the matching credit
    credit_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"reverse transfer to {self.to_account} ({self.status})"


class TransferCredit(models.Model):
    """Every credit the bank's statement showed on a per-application account, and what it meant: the one that
    verifies, or why it did not (wrong memo, amount or payer; no such application; too late)."""

    bank_ref = models.CharField(max_length=40, unique=True)  # a credit is looked at once
    transfer = models.ForeignKey(ReverseTransfer, null=True, on_delete=models.PROTECT, related_name="credits")
    to_account = models.CharField(max_length=32)
    from_account_tail = models.CharField(max_length=4)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    memo = models.CharField(max_length=100, blank=True)
    outcome = models.CharField(max_length=20)  # matched | wrong_memo | wrong_amount | wrong_payer | unknown | closed
    booked_at = models.DateTimeField()
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.bank_ref} {self.outcome}"


class StatementCursor(models.Model):
    """How far the service has read the bank's statement of its collection account (credits come in id order)."""

    account = models.CharField(max_length=32, unique=True)
    last_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.account} after {self.last_id}"


class MembershipStatus(models.TextChoices):
    REQUESTED = "requested", _("待审批")
    ADDED = "added", _("已添加，待申领")
    ACTIVE = "active", _("成员")
    REJECTED = "rejected", _("已拒绝")
    REMOVED = "removed", _("已移除")


class Membership(models.Model):
    """A person acting for an enterprise in the signing service (R3.8, R3.9): the admin (who verified it first, or
    to whom it was handed over), members the admin approved or added by name and phone, and their requests."""

    enterprise = models.ForeignKey(ShieldEnterprise, on_delete=models.PROTECT, related_name="memberships")
    account = models.CharField(max_length=32, blank=True, db_index=True)  # empty while added and not yet claimed
    name = models.CharField(max_length=50)
    phone_digest = models.CharField(max_length=64, blank=True)
    phone_tail = models.CharField(max_length=4, blank=True)
    role = models.CharField(max_length=10, default="member")  # admin | member
    status = models.CharField(max_length=10, choices=MembershipStatus.choices)
    claim = models.ForeignKey(ClaimSession, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=32, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["enterprise", "account"],
                condition=models.Q(status__in=["requested", "active"]) & ~models.Q(account=""),
                name="shield_one_live_membership_per_person",
            ),
            models.UniqueConstraint(
                fields=["enterprise"], condition=models.Q(role="admin", status="active"), name="shield_one_admin"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.enterprise_id} ({self.role}, {self.status})"


# --- key use (R4.1–R4.6): who may call the remote-signing API, authorisations, operation records --------------


class ApiClient(models.Model):
    """A platform calling the remote-signing API with its own credentials (a bearer key kept as a digest). It acts
    for claimants of its platform only, and every key use it asks for is authorised on the claimant's phone."""

    client_id = models.CharField(max_length=40, unique=True)
    platform = models.CharField(max_length=64)
    key_digest = models.CharField(max_length=64, unique=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.client_id} ({self.platform})"


class DeviceGrantStatus(models.TextChoices):
    PENDING = "pending", _("待确认")
    ALLOWED = "allowed", _("已授权")
    DENIED = "denied", _("已拒绝")
    USED = "used", _("已使用")


class DeviceGrant(models.Model):
    """The command-line tool's login (OAuth 2.0 device authorisation, RFC 8628): the tool shows a QR code; the
    claimant opens it on the phone, signs in with their phone identity and allows it; the tool then gets a token."""

    device_code_digest = models.CharField(max_length=64, unique=True)
    user_code = models.CharField(max_length=9, unique=True)  # XXXX-XXXX, what the phone page shows to compare
    status = models.CharField(max_length=10, choices=DeviceGrantStatus.choices, default=DeviceGrantStatus.PENDING)
    account = models.CharField(max_length=32, blank=True)
    client_name = models.CharField(max_length=60)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    last_polled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"device grant {self.user_code} ({self.status})"


class AccessToken(models.Model):
    """A claimant's token for the command-line tool (kept as a digest), valid for a working day."""

    token_digest = models.CharField(max_length=64, unique=True)
    account = models.CharField(max_length=32, db_index=True)
    client_name = models.CharField(max_length=60)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"token of {self.account}"


class KeyUseStatus(models.TextChoices):
    PENDING = "pending", _("待确认")
    AUTHORIZED = "authorized", _("已授权")
    USED = "used", _("已使用")
    REFUSED = "refused", _("已拒绝")
    EXPIRED = "expired", _("已过期")


class KeyUseAuthorization(models.Model):
    """One authorisation to use a credential's key (the CSC "SAD", SCAL2): bound to exactly these hashes (signing)
    or this envelope (decryption), single use, valid 5 minutes from the PIN. Asked for with the PIN in the request
    (the claimant's own tool) or approved on the phone (QR code or the H5 page's pending list)."""

    credential = models.ForeignKey(Credential, on_delete=models.PROTECT, related_name="authorizations")
    operation = models.CharField(max_length=10)  # sign | decrypt
    hashes = models.JSONField()  # base64 SHA-256 digests (for decrypt: of the envelope), in the caller's order
    platform = models.CharField(max_length=64)
    purpose = models.CharField(max_length=100, blank=True)
    file_name = models.CharField(max_length=200, blank=True)
    requested_by = models.CharField(max_length=60)  # client:<id> | token:<account>
    requester_address = models.GenericIPAddressField(null=True, blank=True)
    approver_address = models.GenericIPAddressField(null=True, blank=True)
    public_ref = models.CharField(max_length=40, unique=True)  # what the QR code / H5 page names
    handle_digest = models.CharField(max_length=64, unique=True)  # the caller's polling handle
    sad_digest = models.CharField(max_length=64, blank=True, db_index=True)
    status = models.CharField(max_length=12, choices=KeyUseStatus.choices, default=KeyUseStatus.PENDING)
    created_at = models.DateTimeField()
    request_expires_at = models.DateTimeField()  # the phone must answer by then
    authorized_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)  # the SAD's end
    sad_delivered = models.BooleanField(default=False)
    used_at = models.DateTimeField(null=True, blank=True)
    # The certificate (so the key) the authorisation was given for: the signing certificate's serial for "sign",
    # the encryption certificate's for "decrypt". A re-key in between makes the SAD useless (issue 17).
    key_serial = models.CharField(max_length=64, blank=True)
    # What the phone shows of the file the request is about (the platform's own requests, issue 18; other callers
    # send hashes only and the phone shows those). ``file_sha256`` (hex) is shown only when it was checked to be the
    # message digest inside ``signed_attributes``, whose SHA-256 is the one hash the authorisation covers. For a
    # credential of the ``sm2`` profile it holds the file's SM3 instead (GB/T 35275), and the one hash is
    # e = SM3(Z ‖ signed attributes) of the signing certificate at ``key_serial`` (issue 19).
    file_size = models.PositiveBigIntegerField(null=True, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)
    signed_attributes = models.BinaryField(null=True, blank=True)  # DER SET OF (RFC 5652 §5.4)
    tender_no = models.CharField(max_length=64, blank=True)
    tender_name = models.CharField(max_length=200, blank=True)
    # decrypt for a split-key credential: the envelope header (public: recipients and encrypted keys) whose SHA-256
    # the authorisation covers, so that the phone can take part in opening it before the platform spends the SAD
    envelope = models.BinaryField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.operation} {self.public_ref} ({self.status})"


class OperationRecord(models.Model):
    """R4.4: what was done with a credential — key use, PIN changes, claim, renewal, member changes — with time,
    platform, purpose and network address; each one also an event in the hash-chained audit log."""

    credential = models.ForeignKey(Credential, null=True, on_delete=models.PROTECT, related_name="operations")
    account = models.CharField(max_length=32, db_index=True)
    enterprise_uscc = models.CharField(max_length=18, db_index=True)
    action = models.CharField(max_length=20)
    platform = models.CharField(max_length=64, blank=True)
    purpose = models.CharField(max_length=200, blank=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    # The same fact in the audit log: its leaf index and inclusion proof are what the claimant checks (R4.4).
    audit_event = models.ForeignKey("audit.AuditEvent", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.action} by {self.account} at {self.created_at:%Y-%m-%d %H:%M}"


# --- OAuth 2.0 as CSC API v2 §8.4 has it (issue 17): applications, grants and tokens ---------------------------


class OAuthApp(models.Model):
    """An application a claimant uses (the authorisation-code grant with PKCE, RFC 6749 §4.1, RFC 7636): its exact
    redirect URIs (a loopback one matches any port, RFC 8252 §7.3), and a secret kept as a digest — or none, for a
    public client (a native app), which then authenticates by PKCE alone."""

    client_id = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=60)
    secret_digest = models.CharField(max_length=64, blank=True)  # "": a public client
    redirect_uris = models.JSONField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.client_id} ({self.name})"


class OAuthGrantStatus(models.TextChoices):
    PENDING = "pending", _("待确认")
    ALLOWED = "allowed", _("已允许")
    DENIED = "denied", _("已拒绝")
    EXCHANGED = "exchanged", _("已换取令牌")
    REVOKED = "revoked", _("已撤销")


class OAuthGrant(models.Model):
    """One authorisation request (``oauth2/authorize``) and what came of it: the claimant's decision on the phone,
    the authorisation code (kept as a digest; sealed to the key of the browser that asked, which alone can read it),
    and for scope "credential" the SCAL2 authorisation the approval made, whose SAD is kept only sealed under a key
    derived from the code and handed out at the code exchange as the access token."""

    ref = models.CharField(max_length=40, unique=True)  # the phone page's address names it
    app = models.ForeignKey(OAuthApp, on_delete=models.PROTECT, related_name="grants")
    redirect_uri = models.CharField(max_length=500)
    redirect_uri_given = models.BooleanField(default=True)  # RFC 6749 §4.1.3: then the exchange must repeat it
    scope = models.CharField(max_length=12)  # service | credential
    state = models.CharField(max_length=500, blank=True)
    code_challenge = models.CharField(max_length=43)  # S256 only
    credential_id = models.CharField(max_length=40, blank=True)
    hashes = models.JSONField(default=list)  # base64 SHA-256 digests to sign (scope credential)
    labels = models.JSONField(default=list)  # the documents' names, one per digest ("" when none was given)
    description = models.CharField(max_length=500, blank=True)
    authorization_details = models.JSONField(null=True, blank=True)  # RAR, as asked (returned at the exchange)
    browser_key = models.BinaryField()  # X25519 public key of the browser that asked
    status = models.CharField(max_length=10, choices=OAuthGrantStatus.choices, default=OAuthGrantStatus.PENDING)
    account = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()  # the phone must answer by then
    decided_at = models.DateTimeField(null=True, blank=True)
    code_digest = models.CharField(max_length=64, unique=True, null=True, blank=True)
    code_sealed = models.BinaryField(null=True, blank=True)
    code_expires_at = models.DateTimeField(null=True, blank=True)
    sad_sealed = models.BinaryField(null=True, blank=True)
    key_use = models.ForeignKey(
        KeyUseAuthorization, null=True, blank=True, on_delete=models.PROTECT, related_name="oauth_grants"
    )
    exchanged_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"oauth grant {self.ref} ({self.scope}, {self.status})"


class OAuthToken(models.Model):
    """An access or refresh token of the OAuth endpoints, kept as a digest: a platform's (client credentials), a
    claimant's application's (scope service, with a refresh token rotated on every use; the grant is the family a
    reused refresh token revokes), or scope credential (the token is the SAD of one approval)."""

    token_digest = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=8)  # access | refresh
    scope = models.CharField(max_length=12)  # service | credential
    client_id = models.CharField(max_length=40, db_index=True)
    platform = models.CharField(max_length=64, blank=True)  # a platform's token: its platform
    account = models.CharField(max_length=32, blank=True, db_index=True)  # a claimant's token: the phone identity
    credential_id = models.CharField(max_length=40, blank=True)  # scope credential: the one credential
    grant = models.ForeignKey(OAuthGrant, null=True, blank=True, on_delete=models.PROTECT, related_name="tokens")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    rotated_at = models.DateTimeField(null=True, blank=True)  # a refresh token, used (and replaced)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} token of {self.client_id} ({self.scope})"


# --- two-party SM2 (issue 20): the service's key shares and the single-use rounds with the phone ------------------


class CosignShare(models.Model):
    """The signing service's share d2 of one two-party SM2 key (``usage`` sign or encrypt): d2 and the pepper (32
    random bytes the phone's storage needs, released per counted PIN attempt) kept only wrapped under the master key
    (owner ``cosign:<ref>``), the phone's public share P1 and the public key P (hex of ``04||x||y``). Made during a
    claim, a renewal (``claim``: the claim or renewal whose PIN step certifies it) or a lost phone's re-key
    (``credential`` already set); live once its certificate is issued (``certified_at``) until destroyed. The whole
    private key exists nowhere; at most one live share per credential and usage. A renewal archives the encryption
    share it replaces (``archived_at``, linked from its ``ArchivedEncryptionKey``) instead of destroying it."""

    ref = models.CharField(max_length=32, unique=True)
    claim = models.ForeignKey(
        ClaimSession, null=True, blank=True, on_delete=models.PROTECT, related_name="cosign_shares"
    )
    credential = models.ForeignKey(
        Credential, null=True, blank=True, on_delete=models.PROTECT, related_name="cosign_shares"
    )
    usage = models.CharField(max_length=8)  # sign | encrypt
    d2_wrapped = models.BinaryField()
    p1 = models.CharField(max_length=130)
    public_key = models.CharField(max_length=130)
    pepper_wrapped = models.BinaryField()
    created_at = models.DateTimeField()
    certified_at = models.DateTimeField(null=True, blank=True)
    # issue 21: an encryption share a renewal replaced, kept (not live) for the bids sealed for its certificate
    archived_at = models.DateTimeField(null=True, blank=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["credential", "usage"],
                condition=models.Q(destroyed_at__isnull=True, certified_at__isnull=False, archived_at__isnull=True),
                name="shield_one_live_cosign_share",
            ),
        ]

    def __str__(self) -> str:
        return f"cosign share {self.usage} {self.ref}"


class CosignRound(models.Model):
    """One round of the two-party protocol: a session string the service issued (random, single use, 2 minutes),
    for one claim (key generation) or credential and kind (keygen, sign, decrypt), bound to what it is for: the
    usage of a key generation, the digest e (hex) of a signature, the C1 (hex) of the ciphertext a decryption opens
    (kept in ``ciphertext``). A signature round keeps the finished signature the phone sent back (public: it verified
    under P); a decryption round the phone's checked message (T1 and its proof: useless without d2), from which the
    content key is computed again only when the platform spends the SAD."""

    session = models.CharField(max_length=64, unique=True)
    claim = models.ForeignKey(
        ClaimSession, null=True, blank=True, on_delete=models.PROTECT, related_name="cosign_rounds"
    )
    credential = models.ForeignKey(
        Credential, null=True, blank=True, on_delete=models.PROTECT, related_name="cosign_rounds"
    )
    kind = models.CharField(max_length=8)  # keygen | sign | decrypt
    usage = models.CharField(max_length=8)  # sign | encrypt
    bound = models.CharField(max_length=130, blank=True)
    ciphertext = models.BinaryField(null=True, blank=True)  # decrypt: the SM2Cipher (public data)
    authorization = models.ForeignKey(
        KeyUseAuthorization, null=True, blank=True, on_delete=models.PROTECT, related_name="cosign_rounds"
    )
    message = models.JSONField(null=True, blank=True)  # decrypt: the phone's checked {"t1", "proof"}
    signature = models.BinaryField(null=True, blank=True)  # sign: the finished DER signature, verified under P
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, blank=True)  # answered, done, or the refusal's code

    def __str__(self) -> str:
        return f"cosign {self.kind} round ({self.outcome or 'open'})"
