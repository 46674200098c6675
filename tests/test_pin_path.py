"""The PIN check off the credential's row lock (issue 15; R4.3, §7: 5 wrong in a row lock the key for 15 minutes):
argon2id runs before the row is locked, the verdict is settled on the locked row, and the lock-out count stays exact
when guesses arrive at once (PostgreSQL, real threads)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import transaction

from mobileca.audit.models import AuditEvent
from mobileca.cards.models import Card
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, InvalidInput
from mobileca.shield import keyuse, pin
from mobileca.shield.callers import Caller
from mobileca.shield.keyuse import AuthorizeResult
from mobileca.shield.locks import lock_credential_pk
from mobileca.shield.models import Credential, KeyUseAuthorization
from mobileca.shield.pin import PIN_FREE_TRIES, Locked, pin_change, pin_check, pin_guess
from tests.races import race
from tests.support.shield import (  # noqa: F401 (fixtures)
    LEGAL_REP,
    PIN,
    activated_credential,
    ca_ready,
    card,
    registered,
)

WRONG = "246802"
DIGEST = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="  # SHA-256 of the empty string


@pytest.fixture
def credential(registered: Card, ca_ready: None) -> Credential:
    return activated_credential(registered)


def _authorize(credential: Credential, typed: str) -> AuthorizeResult:
    return keyuse.authorize(
        caller=Caller("token", credential.account),
        credential_id=credential.service_no,
        operation="sign",
        hashes=[DIGEST],
        pin=typed,
    )


def _pin_events(credential: Credential) -> list[AuditEvent]:
    subject = f"credential:{credential.service_no}"
    return list(
        AuditEvent.objects.filter(
            subject=subject, action__in=["credential.pin_wrong", "credential.use_authorized"]
        ).order_by("pk")
    )


@pytest.mark.django_db(transaction=True)
def test_the_pin_is_compared_outside_any_transaction_so_outside_the_row_lock(
    credential: Credential, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared_inside: list[bool] = []
    real = pin._matches

    def spy(pin_hash: str, typed: str) -> bool:
        compared_inside.append(transaction.get_connection().in_atomic_block)
        return real(pin_hash, typed)

    monkeypatch.setattr(pin, "_matches", spy)
    assert _authorize(credential, PIN).sad
    with pytest.raises(InvalidInput):
        _authorize(credential, WRONG)
    assert compared_inside == [False, False]
    assert Credential.objects.get(pk=credential.pk).pin_failures == 1


@pytest.mark.django_db
def test_a_guess_compared_before_a_pin_change_is_compared_again_with_the_new_hash(credential: Credential) -> None:
    # given: the old (right) PIN compared with the hash as read before the lock
    guess = pin_guess(Credential.objects.get(pk=credential.pk), PIN)
    assert guess.right
    # when: the PIN is changed underneath, then the guess is settled on the locked row
    pin_change(
        account=LEGAL_REP,
        service_no=credential.service_no,
        old_pin=PIN,
        new_pin="864209",
        new_again="864209",
        address=None,
    )
    with transaction.atomic():
        locked = lock_credential_pk(credential.pk)
        refusal = pin_check(locked, guess)
    # then: the old PIN is wrong now, and counted as such
    assert isinstance(refusal, InvalidInput) and refusal.code == "invalid_authentication_data"
    assert Credential.objects.get(pk=credential.pk).pin_failures == 1


@pytest.mark.django_db
def test_a_guess_compared_before_the_lock_out_is_refused_as_locked_and_not_counted(credential: Credential) -> None:
    early = pin_guess(Credential.objects.get(pk=credential.pk), PIN)  # right, compared while the key was open
    Credential.objects.filter(pk=credential.pk).update(
        pin_failures=PIN_FREE_TRIES, locked_until=now() + timedelta(minutes=15)
    )
    with transaction.atomic():
        refusal = pin_check(lock_credential_pk(credential.pk), early)
    assert isinstance(refusal, Locked)
    after = Credential.objects.get(pk=credential.pk)
    assert after.pin_failures == PIN_FREE_TRIES and after.locked_until is not None


# --- parallel guesses on PostgreSQL ---------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_wrong_pins_at_once_lock_the_key_exactly_once_at_the_fifth(credential: Credential) -> None:
    started = now()
    results = race(lambda: _authorize(credential, WRONG), threads=8)
    codes = sorted(getattr(result, "code", repr(result)) for result in results)
    # four are told how many tries are left, the fifth locks the key, the last three find it locked
    assert codes == ["credential_locked"] * 4 + ["invalid_authentication_data"] * 4, results
    after = Credential.objects.get(pk=credential.pk)
    assert after.pin_failures == PIN_FREE_TRIES
    assert after.locked_until is not None
    assert started + timedelta(minutes=15) <= after.locked_until <= now() + timedelta(minutes=15)
    assert [event.data["failures"] for event in _pin_events(credential)] == [1, 2, 3, 4, 5]
    assert KeyUseAuthorization.objects.filter(credential=credential, status="refused").count() == 8
    assert not KeyUseAuthorization.objects.filter(credential=credential, status="authorized").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_right_pin_racing_seven_wrong_ones_is_settled_as_in_some_sequential_order(credential: Credential) -> None:
    pins = iter([PIN] + [WRONG] * 7)
    take = threading.Lock()

    def guess() -> tuple[str, object]:
        with take:
            typed = next(pins)
        try:
            return (typed, _authorize(credential, typed))
        except ApplicationError as refused:
            return (typed, refused)

    outcomes = [outcome for outcome in race(guess, threads=8) if isinstance(outcome, tuple)]
    assert len(outcomes) == 8, outcomes
    right = [result for typed, result in outcomes if typed == PIN]
    assert len(right) == 1
    # replay the recorded decisions in the order they took the row lock: the count follows the rules exactly
    failures, accepted = 0, 0
    for event in _pin_events(credential):
        if event.action == "credential.pin_wrong":
            failures += 1
            assert event.data["failures"] == failures <= PIN_FREE_TRIES
        else:
            failures, accepted = 0, accepted + 1
    after = Credential.objects.get(pk=credential.pk)
    assert after.pin_failures == failures
    assert (after.locked_until is not None) == (failures == PIN_FREE_TRIES)
    if isinstance(right[0], AuthorizeResult):  # the right PIN took the lock before the fifth wrong one
        assert accepted == 1 and right[0].sad
    else:  # it came after the lock-out: refused as locked, like every later guess
        assert accepted == 0 and isinstance(right[0], Locked) and failures == PIN_FREE_TRIES
    counted = sum(1 for event in _pin_events(credential) if event.action == "credential.pin_wrong")
    locked_out = failures == PIN_FREE_TRIES  # the fifth wrong in a row was counted and locked the key
    told_wrong = sum(1 for _typed, result in outcomes if getattr(result, "code", "") == "invalid_authentication_data")
    refused_locked = sum(1 for _typed, result in outcomes if isinstance(result, Locked))
    assert told_wrong + accepted + refused_locked == 8
    assert counted == told_wrong + (1 if locked_out else 0)  # no guess after the lock-out was counted
