"""The one writer of every status field of the signing service: each moves a row that its caller has locked (in the
order of ``locks.py``) along an edge of its table and saves it with ``update_fields``. The callers
write the audit event in the same transaction. Nothing else assigns these fields; the tables are below.

=====================================  ============================  ================================
field                                  table                         writer
=====================================  ============================  ================================
``ClaimSession.status`` and ``.step``  ``CLAIM_TRANSITIONS``,        ``claim_move``
                                       ``CLAIM_STEP_TRANSITIONS``
``Membership.status``                  ``MEMBERSHIP_TRANSITIONS``    ``membership_move``
``ForwardTransfer/ReverseTransfer``    ``TRANSFER_TRANSITIONS``      ``transfer_move``
``KeyUseAuthorization.status``         ``KEY_USE_TRANSITIONS``       ``authorization_move``
``DeviceGrant.status``                 ``DEVICE_GRANT_TRANSITIONS``  ``device_grant_move``
``FaceCheck.outcome``                  ``FACE_CHECK_TRANSITIONS``    ``face_check_move``
=====================================  ============================  ================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.db import models
from django.utils.translation import gettext as _

from mobileca.core.errors import Conflict
from mobileca.core.states import ensure_transition
from mobileca.shield.models import (
    ClaimSession,
    ClaimStatus,
    ClaimStep,
    DeviceGrant,
    DeviceGrantStatus,
    FaceCheck,
    FaceOutcome,
    ForwardTransfer,
    KeyUseAuthorization,
    KeyUseStatus,
    Membership,
    MembershipStatus,
    ReverseTransfer,
    TransferStatus,
)

# --- the tables: from each state, the states it may move to (reviewed here, in code) -----------------------------

CLAIM_TRANSITIONS: dict[str, frozenset[str]] = {
    ClaimStatus.WAITING: frozenset({ClaimStatus.BOUND}),
    ClaimStatus.BOUND: frozenset({ClaimStatus.ACTIVATED}),
    ClaimStatus.ACTIVATED: frozenset(),
}


# The phone's way through a claim. A renewal goes straight to its own step; a member removed before setting the PIN
# goes back to waiting for the admin (R3.8).
CLAIM_STEP_TRANSITIONS: dict[str, frozenset[str]] = {
    ClaimStep.SERVICE: frozenset({ClaimStep.ENTERPRISE, ClaimStep.AGREEMENT, ClaimStep.RENEWAL}),
    ClaimStep.ENTERPRISE: frozenset({ClaimStep.AGREEMENT}),
    ClaimStep.AGREEMENT: frozenset({ClaimStep.FACE}),
    ClaimStep.FACE: frozenset({ClaimStep.ENTERPRISE_VERIFY, ClaimStep.PIN, ClaimStep.APPROVAL}),
    ClaimStep.ENTERPRISE_VERIFY: frozenset({ClaimStep.PIN}),
    ClaimStep.APPROVAL: frozenset({ClaimStep.PIN}),
    ClaimStep.PIN: frozenset({ClaimStep.APPROVAL, ClaimStep.DONE}),
    ClaimStep.RENEWAL: frozenset({ClaimStep.DONE}),
    ClaimStep.DONE: frozenset(),
}


# A face check is decided once, by the provider's signed result.
FACE_CHECK_TRANSITIONS: dict[str, frozenset[str]] = {
    FaceOutcome.PENDING: frozenset({FaceOutcome.PASSED, FaceOutcome.FAILED}),
    FaceOutcome.PASSED: frozenset(),
    FaceOutcome.FAILED: frozenset(),
}


# Both corporate-transfer verifications: pending until verified, or failed (wrong entries, expiry, replaced). A
# forward transfer is ``sending`` from the moment it is counted until the bank has paid (or may have: failed).
TRANSFER_TRANSITIONS: dict[str, frozenset[str]] = {
    TransferStatus.SENDING: frozenset({TransferStatus.PENDING, TransferStatus.FAILED}),
    TransferStatus.PENDING: frozenset({TransferStatus.VERIFIED, TransferStatus.FAILED}),
    TransferStatus.VERIFIED: frozenset(),
    TransferStatus.FAILED: frozenset(),
}


MEMBERSHIP_TRANSITIONS: dict[str, frozenset[str]] = {
    MembershipStatus.REQUESTED: frozenset({MembershipStatus.ACTIVE, MembershipStatus.REJECTED}),
    MembershipStatus.ADDED: frozenset({MembershipStatus.ACTIVE, MembershipStatus.REMOVED}),
    MembershipStatus.ACTIVE: frozenset({MembershipStatus.REMOVED}),
    MembershipStatus.REJECTED: frozenset(),
    MembershipStatus.REMOVED: frozenset(),
}


# RFC 8628: the claimant allows or denies once; an allowed code yields one token.
DEVICE_GRANT_TRANSITIONS: dict[str, frozenset[str]] = {
    DeviceGrantStatus.PENDING: frozenset({DeviceGrantStatus.ALLOWED, DeviceGrantStatus.DENIED}),
    DeviceGrantStatus.ALLOWED: frozenset({DeviceGrantStatus.USED}),
    DeviceGrantStatus.DENIED: frozenset(),
    DeviceGrantStatus.USED: frozenset(),
}


KEY_USE_TRANSITIONS: dict[str, frozenset[str]] = {
    KeyUseStatus.PENDING: frozenset({KeyUseStatus.AUTHORIZED, KeyUseStatus.REFUSED, KeyUseStatus.EXPIRED}),
    KeyUseStatus.AUTHORIZED: frozenset({KeyUseStatus.USED, KeyUseStatus.EXPIRED}),
    KeyUseStatus.USED: frozenset(),
    KeyUseStatus.REFUSED: frozenset(),
    KeyUseStatus.EXPIRED: frozenset(),
}


def _move(row: models.Model, field: str, table: Mapping[str, frozenset[str]], target: str, also: Iterable[str]) -> None:
    ensure_transition(table, getattr(row, field), target)
    setattr(row, field, target)
    row.save(update_fields=[field, *also])


def claim_move(
    claim: ClaimSession,
    *,
    step: str | None = None,
    status: str | None = None,
    expected: str | None = None,
    also: Iterable[str] = (),
) -> None:
    """Move a locked claim to ``step`` and/or ``status``. With ``expected``, the claim must stand at that step (a
    page of an earlier step submitted again is told the claim has moved on, not an internal error)."""
    if expected is not None and claim.step != expected:
        raise Conflict(_("申领步骤已变化，请刷新页面"), code="wrong_step")
    fields = list(also)
    if status is not None and status != claim.status:
        ensure_transition(CLAIM_TRANSITIONS, claim.status, status)
        claim.status = status
        fields.append("status")
    if step is not None:
        if step != claim.step:
            ensure_transition(CLAIM_STEP_TRANSITIONS, claim.step, step)
        claim.step = step
        fields.append("step")
    claim.save(update_fields=fields)


def membership_move(membership: Membership, target: str, *, also: Iterable[str] = ()) -> None:
    _move(membership, "status", MEMBERSHIP_TRANSITIONS, target, also)


def transfer_move(transfer: ForwardTransfer | ReverseTransfer, target: str, *, also: Iterable[str] = ()) -> None:
    _move(transfer, "status", TRANSFER_TRANSITIONS, target, also)


def authorization_move(authorization: KeyUseAuthorization, target: str, *, also: Iterable[str] = ()) -> None:
    _move(authorization, "status", KEY_USE_TRANSITIONS, target, also)


def device_grant_move(grant: DeviceGrant, target: str, *, also: Iterable[str] = ()) -> None:
    _move(grant, "status", DEVICE_GRANT_TRANSITIONS, target, also)


def face_check_move(check: FaceCheck, target: str, *, also: Iterable[str] = ()) -> None:
    _move(check, "outcome", FACE_CHECK_TRANSITIONS, target, also)
