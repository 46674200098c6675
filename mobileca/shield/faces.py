"""Face checks at the liveness provider (R3.5 the claimant, R3.6 the legal representative, R4.3 a forgotten PIN):
opened by the service with a nonce, played on the phone, decided once by the provider's signed result."""

from __future__ import annotations

import secrets

from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from mobileca.core.clock import now
from mobileca.core.errors import NotFound
from mobileca.shield import liveness
from mobileca.shield.models import FaceCheck, FaceOutcome, PhoneAccount
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
