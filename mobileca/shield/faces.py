"""Face checks at the liveness provider (R3.5 the claimant, R3.6 the legal representative, R4.3 a forgotten PIN):
opened by the service with a nonce, played on the phone, decided once by the provider's signed result."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.db import transaction
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from mobileca.audit.services import Actor, audit_record
from mobileca.core.clock import now
from mobileca.core.errors import Conflict, NotFound, PermissionDenied
from mobileca.shield import liveness
from mobileca.shield.models import Credential, FaceCheck, FaceOutcome, PhoneAccount
from mobileca.shield.sealing import unseal_resident_id
from mobileca.shield.transitions import face_check_move


@sensitive_variables()
def _resident_id(person: PhoneAccount) -> str:
    return unseal_resident_id(person.account, bytes(person.resident_id_sealed))


@sensitive_variables()
def face_check_open(*, claim_id: int, person: PhoneAccount, purpose: str) -> str:
    """Open a check of this person at the provider (a network call: before any lock); returns where the phone
    plays it."""
    nonce = secrets.token_urlsafe(16)
    opened = liveness.open_check(name=person.name, resident_id=_resident_id(person), nonce=nonce)
    FaceCheck.objects.create(
        claim_id=claim_id,
        account=person.account,
        check_id=opened.check_id,
        nonce=nonce,
        purpose=purpose,
        created_at=now(),
    )
    return opened.url


def face_check_result(*, check_id: str, account: str, purpose: str = "") -> tuple[FaceCheck, bool]:
    """The phone is back: this person's check, and whether the provider's signed result says passed (fetched
    before any lock)."""
    if not isinstance(check_id, str) or "\x00" in check_id or len(check_id) > 64:  # no such check (the column)
        raise NotFound(_("未找到该人脸识别"), code="face_check_unknown")
    checks = FaceCheck.objects.select_related("claim").filter(check_id=check_id, account=account)
    check = (checks.filter(purpose=purpose) if purpose else checks).first()
    person = PhoneAccount.objects.filter(account=account).first()
    if check is None or person is None:
        raise NotFound(_("未找到该人脸识别"), code="face_check_unknown")
    return check, liveness.fetch_result(check_id=check_id, nonce=check.nonce, resident_id=_resident_id(person))


def face_check_record(check: FaceCheck, *, passed: bool) -> bool:
    """Record the result on a locked check, once; True when this call decided it."""
    if check.outcome != FaceOutcome.PENDING:
        return False
    check.finished_at = now()
    face_check_move(check, FaceOutcome.PASSED if passed else FaceOutcome.FAILED, also=["finished_at"])
    return True


# --- a fresh face check of a credential's claimant: a forgotten PIN, a lost phone's re-key, a revocation ----------

CREDENTIAL_FACE_VALIDITY = timedelta(minutes=10)  # a passed check allows one such action within this


def credential_face_start(*, credential: Credential, account: str, purpose: str) -> str:
    """Open a fresh live face check of the credential's claimant for ``purpose``; returns where the phone plays it."""
    person = PhoneAccount.objects.filter(account=account).first()
    if person is None or credential.account != account:
        raise NotFound(_("未找到该证书"), code="credential_unknown")
    return face_check_open(claim_id=credential.claim_id, person=person, purpose=purpose)


def credential_face_finish(*, check_id: str, account: str, purpose: str) -> str:
    """The phone is back from a ``purpose`` face check: the signed result recorded once (audit
    ``credential.<purpose>_face_<outcome>``); returns the credential's 服务编号, or refuses ``face_failed``."""
    check, passed = face_check_result(check_id=check_id, account=account, purpose=purpose)
    with transaction.atomic(durable=True):
        check = FaceCheck.objects.select_for_update().get(pk=check.pk)
        if face_check_record(check, passed=passed):
            audit_record(
                action=f"credential.{purpose}_face_{check.outcome}",
                subject=f"phone:{account}",
                actor=Actor("phone", account),
            )
    credential = Credential.objects.get(claim_id=check.claim_id)
    if check.outcome != FaceOutcome.PASSED:
        raise Conflict(_("人脸识别未通过，请重试"), code="face_failed")
    return credential.service_no


def credential_face_spend(credential: Credential, *, check_id: str, account: str, purpose: str) -> FaceCheck:
    """In the caller's transaction, the credential locked: the claimant's passed, unused ``purpose`` face check
    ``check_id`` of this credential, at most 10 minutes old, marked used. Refused ``face_required`` (none such) or
    ``face_stale``; the caller's rollback undoes the use if a later check refuses."""
    check = (
        FaceCheck.objects.select_for_update()
        .filter(
            check_id=check_id if isinstance(check_id, str) else "",
            account=account,
            purpose=purpose,
            outcome=FaceOutcome.PASSED,
            consumed_at__isnull=True,
        )
        .first()
    )
    if check is None or check.claim_id != credential.claim_id or credential.account != account:
        raise PermissionDenied(_("请先完成人脸识别"), code="face_required")
    if check.finished_at is None or now() - check.finished_at > CREDENTIAL_FACE_VALIDITY:
        raise Conflict(_("人脸识别已超过 10 分钟，请重新识别"), code="face_stale")
    check.consumed_at = now()
    check.save(update_fields=["consumed_at"])
    return check
