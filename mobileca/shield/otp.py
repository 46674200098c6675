"""手机号认证 (R3.6, §7): the claimant types the legal representative's phone number; it must be the one the business
registry has for them (a number that is not is counted on the claim, nothing is sent, and past
``PHONE_MISMATCHES_PER_CLAIM`` the method is closed for the claim). A 6-digit code goes to that phone, kept only as a
keyed digest; at most 5 tries, valid 5 minutes, limited sends per phone a minute and a day (the page counts
``RESEND_SECONDS`` down before 「重新发送」, which sends again to the number already confirmed), and wrong codes capped
per claim. The right code verifies the enterprise and moves the claim to the PIN.

The code is read with ``core.inputs.digits`` (full-width digits as ASCII); anything else is refused with a message
and not counted as a try (it can never be right). Both functions are ``sensitive_variables``: the code and the
legal representative's phone (typed or the registry's) never reach an error report."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from mobileca.audit.services import Actor, audit_record
from mobileca.core import inputs
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, Conflict, InvalidInput
from mobileca.shield import sms
from mobileca.shield.claims import claim_of_claimant, claim_of_claimant_locked, refuse_unless_legal_representative
from mobileca.shield.locks import lock_enterprise
from mobileca.shield.members import enterprise_verified
from mobileca.shield.models import ClaimSession, ClaimStep, PhoneAccount, SmsChallenge
from mobileca.shield.registry import RegistryRecord
from mobileca.shield.sealing import keyed_digest
from mobileca.shield.transitions import claim_move

PHONE_MISMATCHES_PER_CLAIM = 5  # numbers typed that are not the legal representative's, before the method closes
RESEND_SECONDS = 60  # 「60 秒后重发」: the per-phone limit allows one send a minute


def _phone_closed() -> Conflict:
    return Conflict(_("手机号核对错误次数过多，请改用其他认证方式"), code="otp_phone_locked")


def _refuse_when_closed(claim: ClaimSession) -> None:
    failures = sum(SmsChallenge.objects.filter(claim=claim).values_list("attempts", flat=True))
    if failures >= settings.MOBILECA_OTP["max_failures_per_claim"]:
        raise Conflict(_("验证码错误次数过多，请改用其他认证方式"), code="otp_claim_locked")
    if claim.phone_mismatches >= PHONE_MISMATCHES_PER_CLAIM:
        raise _phone_closed()


@sensitive_variables()
def _typed_phone(value: str) -> str:
    try:
        typed = inputs.digits(value, length=11)
    except inputs.BadInput:
        raise InvalidInput(_("请输入 11 位手机号"), code="otp_phone_format") from None
    if not typed.startswith("1"):
        raise InvalidInput(_("请输入 11 位手机号"), code="otp_phone_format")
    return typed


@sensitive_variables()
def _phone_mismatch_count(*, ticket: str, account: str) -> ApplicationError:
    """One more number typed that is not the registry's, counted on the locked claim (committed: the refusal that
    follows must not roll it back); the refusal says how many tries are left."""
    with transaction.atomic(durable=True):
        claim = claim_of_claimant_locked(ticket, account, at=ClaimStep.ENTERPRISE_VERIFY)
        claim.phone_mismatches += 1
        claim.save(update_fields=["phone_mismatches"])
        audit_record(action="claim.sms_phone_mismatch", subject=f"claim:{claim.pk}", actor=Actor("phone", account))
    left = PHONE_MISMATCHES_PER_CLAIM - claim.phone_mismatches
    if left <= 0:
        return _phone_closed()
    return InvalidInput(
        _("该手机号与企业登记的法定代表人手机号不一致，未发送验证码。还可尝试 {left} 次").format(left=left),
        code="otp_phone_mismatch",
    )


@sensitive_variables()
def sms_code_send(*, ticket: str, account: str, phone: str) -> str:
    """「发送验证码」: ``phone`` as typed must be the phone the registry has for the legal representative (a number that
    is not is counted and nothing is sent); a 6-digit code goes to it. Returns its last 4 digits."""
    claim = claim_of_claimant(ticket, account, at=ClaimStep.ENTERPRISE_VERIFY)
    typed = _typed_phone(phone)  # a malformed number is not counted: it is no guess at the registry's
    _refuse_when_closed(claim)
    person = PhoneAccount.objects.get(account=account)
    record = refuse_unless_legal_representative(claim, person)  # the registry's phone, fresh; never stored
    if not hmac.compare_digest(keyed_digest(typed).encode(), keyed_digest(record.legal_representative_phone).encode()):
        raise _phone_mismatch_count(ticket=ticket, account=account)
    return _send(claim, record)


@sensitive_variables()
def sms_code_resend(*, ticket: str, account: str) -> str:
    """「重新发送」: a new code to the number this claim already confirmed, if the registry still has it."""
    claim = claim_of_claimant(ticket, account, at=ClaimStep.ENTERPRISE_VERIFY)
    _refuse_when_closed(claim)
    confirmed = SmsChallenge.objects.filter(claim=claim).order_by("-sent_at").first()
    person = PhoneAccount.objects.get(account=account)
    record = refuse_unless_legal_representative(claim, person)
    if confirmed is None or not hmac.compare_digest(
        confirmed.phone_digest.encode(), keyed_digest(record.legal_representative_phone).encode()
    ):
        raise Conflict(_("请输入法定代表人手机号后获取验证码"), code="otp_phone_needed")
    return _send(claim, record)


@sensitive_variables()
def _send(claim: ClaimSession, record: RegistryRecord) -> str:
    phone = record.legal_representative_phone
    limits, code = settings.MOBILECA_OTP, f"{secrets.randbelow(10**6):06d}"
    with transaction.atomic(durable=True):
        # One lock per enterprise (its legal representative's phone): concurrent sends are counted one after another.
        lock_enterprise(claim.enterprise_uscc)
        moment = now()
        sent = SmsChallenge.objects.filter(phone_digest=keyed_digest(phone))
        if sent.filter(sent_at__gt=moment - timedelta(minutes=1)).count() >= limits["per_minute"]:
            raise Conflict(_("验证码发送过于频繁，请一分钟后再试"), code="otp_too_frequent")
        if sent.filter(sent_at__gt=moment - timedelta(days=1)).count() >= limits["per_day"]:
            raise Conflict(_("该手机号今日接收验证码次数已达上限"), code="otp_daily_limit")
        SmsChallenge.objects.create(
            claim=claim,
            phone_digest=keyed_digest(phone),
            phone_tail=phone[-4:],
            code_digest=keyed_digest(code),
            sent_at=moment,
            expires_at=moment + timedelta(minutes=limits["valid_minutes"]),
        )
        text = f"【e签盾】您的验证码为 {code}，5 分钟内有效，请勿泄露。"
        transaction.on_commit(lambda: sms.send(phone=phone, text=text))  # no network call under the lock
    return phone[-4:]


def resend_in(challenge: SmsChallenge | None, moment: datetime) -> int:
    """Seconds before 「重新发送」 may be pressed (0: now)."""
    if challenge is None:
        return 0
    return max(0, RESEND_SECONDS - int((moment - challenge.sent_at).total_seconds()))


def tries_left(challenge: SmsChallenge) -> int:
    return max(0, settings.MOBILECA_OTP["max_tries"] - challenge.attempts)


@sensitive_variables()
def sms_code_verify(*, ticket: str, account: str, code: str) -> ClaimSession:
    """The code entered: at most 5 tries, within 5 minutes; right → the enterprise is verified, on to the PIN."""
    refusal: ApplicationError | None = None
    with transaction.atomic(durable=True):
        claim = claim_of_claimant_locked(ticket, account, at=ClaimStep.ENTERPRISE_VERIFY)
        try:
            typed = inputs.digits(code, length=6)
        except inputs.BadInput:
            raise InvalidInput(_("验证码须为 6 位数字（0–9）"), code="otp_format") from None
        challenge = (
            SmsChallenge.objects.select_for_update()
            .filter(claim=claim, verified_at__isnull=True)
            .order_by("-sent_at")
            .first()
        )
        if challenge is None:
            raise Conflict(_("请先获取验证码"), code="otp_missing")
        if now() >= challenge.expires_at:
            raise Conflict(_("验证码已过期，请重新获取"), code="otp_expired")
        if challenge.attempts >= settings.MOBILECA_OTP["max_tries"]:
            raise Conflict(_("验证码错误次数过多，请重新获取"), code="otp_locked")
        if not hmac.compare_digest(challenge.code_digest.encode(), keyed_digest(typed).encode()):
            challenge.attempts += 1
            challenge.save(update_fields=["attempts"])  # kept: the count is what limits guessing
            left = tries_left(challenge)
            refusal = (
                InvalidInput(_("验证码错误，还可尝试 {left} 次").format(left=left), code="otp_wrong")
                if left
                else InvalidInput(_("验证码错误次数过多，请重新获取"), code="otp_wrong")
            )
        else:
            challenge.verified_at = now()
            challenge.save(update_fields=["verified_at"])
            enterprise_verified(claim, account, method="legal_rep_sms")
            claim_move(claim, step=ClaimStep.PIN, expected=ClaimStep.ENTERPRISE_VERIFY)
    if refusal is not None:
        raise refusal
    return claim
