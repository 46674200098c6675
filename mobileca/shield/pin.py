"""The PIN of a credential (R3.7, R4.3, §7), all in one place: its format, the check with attempt counting and
lock-out (5 wrong in a row lock the key for 15 minutes, each further wrong doubles it), changing it with the old one,
and resetting a forgotten one after a fresh face check. Only an argon2id hash is stored. A two-party SM2 credential
(issue 20) keeps the phone's half sealed under the PIN: a change is the same here (the phone page seals its half
again under the new PIN first), but a forgotten PIN cannot open the half, so its reset is a re-key
(``shield.rekey``).

Every PIN is read with ``core.inputs.digits``: the full-width digits a Chinese input method types are the same PIN
as their ASCII digits, and any other character (another script's digits, superscripts) is refused with a message
before anything is compared or stored; such a refusal is not counted as a wrong PIN (it can never be right). Every
function holding a PIN is marked ``sensitive_variables``, so an error report never shows one.

The argon2id comparison (100–200 ms of CPU) runs *before* the credential's row is locked (issue 15), so that other
requests for the same credential do not queue behind it: ``pin_guess`` compares the PIN with the hash as read
without a lock, then the caller locks the row and ``pin_check`` settles the guess on the locked row:

* a key locked (on the locked row) takes no guess: refused as locked, not counted, whatever the early comparison
  said — so once the lock-out is committed no further guess is ever answered, even one compared just before;
* otherwise the early verdict stands if the locked row still holds the very hash it was compared with (argon2id
  hashes are salted, so a PIN change or reset always changes the hash, even to the same PIN); if the hash changed
  underneath, the comparison is redone on the locked row's hash (rare: a change or reset landed in between);
* a wrong PIN adds one to the failure count *of the locked row*, and a right one clears it, so the count is exact
  under parallel guesses: the verdict depends on the hash only, while the count and the lock-out are read and
  written under the row lock, in the order the guesses take it (5 wrong at once lock the key exactly once, at
  the 5th; R4.3, §7).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from mobileca.audit.services import Actor, audit_record
from mobileca.core import inputs
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, Conflict, InvalidInput, NotFound
from mobileca.shield import cosign_keys, links, sms
from mobileca.shield.faces import credential_face_finish, credential_face_spend, credential_face_start
from mobileca.shield.locks import lock_credential
from mobileca.shield.models import Credential
from mobileca.shield.records import record_operation

PIN_FREE_TRIES = 5  # §7: 5 wrong in a row lock the key for 15 minutes, each further wrong doubles it
PIN_FIRST_LOCK = timedelta(minutes=15)
RESET_PURPOSE = "pin_reset"  # the face check of a forgotten PIN, and of a split credential's re-key
_WEAK_PINS = frozenset(
    {"012345", "123456", "234567", "345678", "456789", "987654", "876543", "765432", "654321", "543210"}
)


class Locked(ApplicationError):
    status = 423
    code = "credential_locked"


def _format_refusal() -> InvalidInput:
    return InvalidInput(_("PIN 码须为 6 位数字（0–9）"), code="pin_format")


@sensitive_variables()
def pin_read(value: object) -> str:
    """A PIN as typed: six digits, full-width read as ASCII; anything else ``InvalidInput`` (``pin_format``)."""
    try:
        return inputs.digits(value, length=6)
    except inputs.BadInput:
        raise _format_refusal() from None


@sensitive_variables()
def pin_problem(pin: str) -> str:
    """Why a PIN is refused (§7: exactly 6 digits, not all the same, not a straight run), or "" if it is fine."""
    if len(pin) != 6 or not pin.isascii() or not pin.isdigit():
        return _("PIN 码须为 6 位数字（0–9）")
    if len(set(pin)) == 1 or pin in _WEAK_PINS:
        return _("PIN 码过于简单，请勿使用相同或连续的数字")
    return ""


@sensitive_variables()
def pin_hash_new(pin: str, pin_again: str) -> str:
    """The argon2id hash of a new PIN entered twice (CPU only: made before any lock), or the refusal."""
    first, second = pin_read(pin), pin_read(pin_again)
    problem = pin_problem(first) or (
        "" if secrets.compare_digest(first.encode(), second.encode()) else _("两次输入的 PIN 码不一致")
    )
    if problem:
        raise InvalidInput(problem, code="pin_refused")
    return PasswordHasher().hash(first)


def lock_message(credential: Credential) -> str:
    until = timezone.localtime(credential.locked_until).strftime("%Y-%m-%d %H:%M") if credential.locked_until else ""
    return _("PIN 码错误次数过多，证书已锁定至 {until}。忘记 PIN 码可通过人脸识别重置。").format(until=until)


@dataclass(frozen=True, repr=False)
class PinGuess:
    """A PIN as typed, compared with a credential's hash before any lock (see the module's docstring)."""

    typed: str | None  # six ASCII digits; None: not a PIN at all (refused, never counted)
    checked_hash: str  # the hash ``right`` was computed against; "" when not compared (the key was locked)
    right: bool


@sensitive_variables()
def _matches(pin_hash: str, typed: str) -> bool:
    try:
        return PasswordHasher().verify(pin_hash, typed)
    except (VerificationError, InvalidHashError):
        return False


@sensitive_variables()
def pin_guess(credential: Credential, pin: str) -> PinGuess:
    """Compare a PIN with the credential as read *without* a lock (the slow argon2id runs here, outside every
    transaction); ``pin_check`` then settles it under the row lock. A key locked at the read is not compared."""
    try:
        typed = pin_read(pin)
    except InvalidInput:
        return PinGuess(typed=None, checked_hash="", right=False)
    if credential.locked_until is not None and now() < credential.locked_until:
        return PinGuess(typed=typed, checked_hash="", right=False)
    return PinGuess(typed=typed, checked_hash=credential.pin_hash, right=_matches(credential.pin_hash, typed))


@sensitive_variables()
def pin_check(
    credential: Credential,
    pin: str | PinGuess,
    *,
    platform: str = "",
    purpose: str = "",
    address: str | None = None,
) -> ApplicationError | None:
    """Settle a PIN on a locked (``select_for_update``) credential: best a ``PinGuess`` made before the lock, else
    the PIN itself (then compared here, under the lock). Wrong PINs are counted and saved even though the caller's
    request is refused: the returned refusal is raised after the commit. A PIN that is not six digits is refused and
    not counted (nothing is stored).

    A wrong PIN is also an operation record (「PIN 码错误」, ``pin_failed``), and the one that locks the key a second
    (「证书锁定」, ``pin_locked``), with the platform, purpose and network address the caller gives (the platform of
    the credential's claim when it gives none) — never the PIN: the claimant checks them when they suspect a leak.
    They are written in the caller's transaction, which commits before the refusal is raised."""
    if isinstance(pin, PinGuess):
        guess = pin
    else:
        try:
            guess = PinGuess(typed=pin_read(pin), checked_hash="", right=False)
        except InvalidInput:
            guess = PinGuess(typed=None, checked_hash="", right=False)
    moment = now()
    if credential.locked_until is not None and moment < credential.locked_until:
        return Locked(lock_message(credential))  # not counted: a locked key takes no guesses
    if guess.typed is None:
        return _format_refusal()
    if guess.checked_hash and secrets.compare_digest(guess.checked_hash.encode(), credential.pin_hash.encode()):
        right = guess.right
    else:  # not compared yet, or the hash changed underneath: compare with the locked row's hash
        right = _matches(credential.pin_hash, guess.typed)
    if not right:
        credential.pin_failures += 1
        if credential.pin_failures >= PIN_FREE_TRIES:
            credential.locked_until = moment + PIN_FIRST_LOCK * 2 ** (credential.pin_failures - PIN_FREE_TRIES)
        credential.save(update_fields=["pin_failures", "locked_until"])
        audit_record(
            action="credential.pin_wrong",
            subject=f"credential:{credential.service_no}",
            actor=Actor("phone", credential.account),
            data={"failures": credential.pin_failures, "locked_until": credential.locked_until},
        )
        locked = credential.locked_until is not None and moment < credential.locked_until
        _record_wrong_pin(credential, locked=locked, platform=platform, purpose=purpose, address=address)
        if locked:
            return Locked(lock_message(credential))
        left = PIN_FREE_TRIES - credential.pin_failures
        return InvalidInput(
            _("PIN 码错误，再错 {left} 次证书将被锁定").format(left=left), code="invalid_authentication_data"
        )
    if credential.pin_failures or credential.locked_until:
        credential.pin_failures, credential.locked_until = 0, None
        credential.save(update_fields=["pin_failures", "locked_until"])
    return None


def _record_wrong_pin(
    credential: Credential, *, locked: bool, platform: str, purpose: str, address: str | None
) -> None:
    """「PIN 码错误」, and 「证书锁定」 when this wrong PIN locked the key (never the PIN itself)."""
    happened: list[tuple[str, dict[str, object]]] = [("pin_failed", {"failures": credential.pin_failures})]
    if locked and credential.locked_until is not None:
        happened.append(("pin_locked", {"locked_until": credential.locked_until.isoformat()}))
    for action, data in happened:
        record_operation(
            action=action,
            account=credential.account,
            enterprise_uscc=credential.enterprise_uscc,
            credential=credential,
            platform=platform or credential.claim.platform,
            purpose=purpose,
            address=address,
            data=data,
        )


def _owned_credential(account: str, service_no: str) -> Credential:
    credential = lock_credential(service_no=service_no, account=account)
    if credential is None:
        raise NotFound(_("未找到该证书"), code="credential_unknown")
    return credential


@sensitive_variables()
def pin_change(
    *, account: str, service_no: str, old_pin: str, new_pin: str, new_again: str, address: str | None
) -> Credential:
    """Change the PIN with the old one (wrong old PINs count towards the lock-out); recorded and notified. Both
    argon2id computations (the new hash, the old PIN's check) run before the row lock."""
    new_hash = pin_hash_new(new_pin, new_again)
    unlocked = Credential.objects.filter(service_no=service_no, account=account).first()
    if unlocked is None:
        raise NotFound(_("未找到该证书"), code="credential_unknown")
    guess = pin_guess(unlocked, old_pin)
    refusal: ApplicationError | None = None
    with transaction.atomic(durable=True):
        credential = _owned_credential(account, service_no)
        refusal = pin_check(credential, guess, purpose=_("修改 PIN 码"), address=address)
        if refusal is None:
            _set_pin(credential, new_hash, action="pin_change", address=address)
    if refusal is not None:
        raise refusal
    return credential


def _set_pin(credential: Credential, pin_hash: str, *, action: str, address: str | None) -> None:
    credential.pin_hash, credential.pin_changed_at = pin_hash, now()
    credential.pin_failures, credential.locked_until = 0, None
    credential.save(update_fields=["pin_hash", "pin_changed_at", "pin_failures", "locked_until"])
    record_operation(
        action=action,
        account=credential.account,
        enterprise_uscc=credential.enterprise_uscc,
        credential=credential,
        address=address,
    )
    when = timezone.localtime(credential.pin_changed_at).strftime("%Y-%m-%d %H:%M")
    sms.notify_account(
        account=credential.account,
        text=_(
            "【e签盾】您的证书 {service_no} 的 PIN 码已于 {when} 修改。如非本人操作，请立即重置 PIN 码并联系客服。"
        ).format(service_no=credential.service_no, when=when),
        link=links.link_url(links.CREDENTIALS),
    )


# --- a forgotten PIN: a fresh face check of the claimant allows one new PIN ---------------------------------------


def pin_reset_start(*, account: str, service_no: str) -> str:
    """Forgotten PIN: open a fresh live face check of the claimant; returns where the phone plays it."""
    credential = Credential.objects.filter(service_no=service_no, account=account).first()
    if credential is None:
        raise NotFound(_("未找到该证书"), code="credential_unknown")
    return credential_face_start(credential=credential, account=account, purpose=RESET_PURPOSE)


def pin_reset_face_finish(*, check_id: str, account: str) -> str:
    """The phone is back from the face check: record the signed result; returns the credential's 服务编号."""
    return credential_face_finish(check_id=check_id, account=account, purpose=RESET_PURPOSE)


@sensitive_variables()
def pin_reset(
    *, account: str, service_no: str, check_id: str, new_pin: str, new_again: str, address: str | None
) -> Credential:
    """A forgotten PIN: a fresh face check of the claimant (passed in the last 10 minutes, used once) allows one
    new PIN, and lifts the lock. Not for a split credential (issue 20): its phone half is sealed under the old PIN,
    so a new PIN alone would leave the key unusable; its reset is the re-key (``shield.rekey``), refused here with
    ``rekey_required`` and nothing changed."""
    new_hash = pin_hash_new(new_pin, new_again)
    with transaction.atomic(durable=True):
        credential = _owned_credential(account, service_no)
        if cosign_keys.is_split(credential):
            raise Conflict(_("该证书的密钥由手机与服务共同持有，忘记 PIN 码须更换密钥"), code="rekey_required")
        credential_face_spend(credential, check_id=check_id, account=account, purpose=RESET_PURPOSE)
        _set_pin(credential, new_hash, action="pin_reset", address=address)
    return credential
