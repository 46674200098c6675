"""手机号认证 (R3.6, §7): a 6-digit code sent to the phone the business registry has for the enterprise's legal
representative, kept only as a keyed digest; at most 5 tries, valid 5 minutes, limited sends per phone a minute and
a day, and wrong codes capped per claim. The right code verifies the enterprise and moves the claim to the PIN.

The code is read with ``core.inputs.digits`` (full-width digits as ASCII); anything else is refused with a message
and not counted as a try (it can never be right). Both functions are ``sensitive_variables``: the code and the
legal representative's phone never reach an error report."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from mobileca.core import inputs
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, Conflict, InvalidInput
from mobileca.shield import sms
from mobileca.shield.claims import claim_of_claimant, claim_of_claimant_locked, refuse_unless_legal_representative
from mobileca.shield.locks import lock_enterprise
from mobileca.shield.members import enterprise_verified
from mobileca.shield.models import ClaimSession, ClaimStep, PhoneAccount, SmsChallenge
from mobileca.shield.sealing import keyed_digest
from mobileca.shield.transitions import claim_move


@sensitive_variables()
def sms_code_send(*, ticket: str, account: str) -> str:
    """Send a 6-digit code to the phone the registry has for the legal representative; returns its last 4 digits."""
    claim = claim_of_claimant(ticket, account, at=ClaimStep.ENTERPRISE_VERIFY)
    person = PhoneAccount.objects.get(account=account)
    failures = sum(SmsChallenge.objects.filter(claim=claim).values_list("attempts", flat=True))
    if failures >= settings.MOBILECA_OTP["max_failures_per_claim"]:
        raise Conflict(_("验证码错误次数过多，请改用其他认证方式"), code="otp_claim_locked")
    record = refuse_unless_legal_representative(claim, person)  # the registry's phone, fresh; never stored
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
            refusal = InvalidInput(_("验证码错误"), code="otp_wrong")
        else:
            challenge.verified_at = now()
            challenge.save(update_fields=["verified_at"])
            enterprise_verified(claim, account, method="legal_rep_sms")
            claim_move(claim, step=ClaimStep.PIN, expected=ClaimStep.ENTERPRISE_VERIFY)
    if refusal is not None:
        raise refusal
    return claim
