"""Revocation of a credential for key compromise (issue 21): the CA revokes its certificates with the reason
keyCompromise and every archived encryption key of the credential is destroyed, so nothing sealed for it can be
decrypted any more; a split credential's shares (live, pending and archived) are destroyed too.

Two doors lead here: customer service in the back office (through ``shield.facade``, with a ticket number or note
as the reason, R6.1) and the claimant on the phone, after a fresh passed face check of their own (purpose
"revoke": at most 10 minutes old, used once, spent by the revocation) and having confirmed the list of sealed bids
that become unreadable. Either way the claimant's 操作记录 gets 「证书吊销」 and the audit log
``credential.revoked_key_compromise`` names who did it. A credential already revoked for key compromise is refused
(``already_revoked``) and nothing changes."""

from __future__ import annotations

from cryptography import x509
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mobileca.audit.services import Actor, audit_record
from mobileca.ca import facade as ca_facade
from mobileca.core import inputs
from mobileca.core.clock import now
from mobileca.core.errors import Conflict, InvalidInput, NotFound
from mobileca.shield import cosign_keys, links, sms
from mobileca.shield.credential_keys import archived_keys_destroy
from mobileca.shield.faces import credential_face_finish, credential_face_spend, credential_face_start
from mobileca.shield.locks import lock_credential, lock_credential_pk
from mobileca.shield.models import Credential
from mobileca.shield.records import record_operation
from mobileca.shield.renewal import pending_bids

SERVICE = Actor("system", "shield")
KEY_COMPROMISE = "key_compromise"
FACE_PURPOSE = "revoke"
REASON_MAX = 200


def _already_revoked() -> Conflict:
    return Conflict(_("该证书已因密钥泄露吊销，无需再次吊销"), code="already_revoked")


def _revoke_locked(
    credential: Credential,
    *,
    actor: Actor,
    data: dict[str, object] | None = None,
    purpose: str = "",
    address: str | None = None,
) -> list[str]:
    """The revocation on a locked credential, inside the caller's transaction."""
    if credential.revoked_reason == KEY_COMPROMISE:
        raise _already_revoked()
    revoked = ca_facade.credential_revoke(
        owner_id=f"credential:{credential.service_no}", reason=x509.ReasonFlags.key_compromise
    )
    destroyed = archived_keys_destroy(credential)
    shares = cosign_keys.destroy_all(credential)
    credential.revoked_reason = KEY_COMPROMISE
    credential.save(update_fields=["revoked_reason"])
    audit_record(
        action="credential.revoked_key_compromise",
        subject=f"credential:{credential.service_no}",
        actor=actor,
        data={"certificates": revoked, "archived_destroyed": destroyed, "shares_destroyed": shares, **(data or {})},
    )
    record_operation(
        action="revoke",
        account=credential.account,
        enterprise_uscc=credential.enterprise_uscc,
        credential=credential,
        purpose=purpose,
        address=address,
        data={"reason": "keyCompromise", "by": actor.kind},
    )
    return destroyed


def credential_revoke_key_compromise(credential: Credential, *, actor: Actor = SERVICE) -> list[str]:
    """Revoke the credential's certificates (keyCompromise) and destroy its archived encryption keys, in one
    transaction (a split credential's two-party shares with them). Returns the serials of the archived keys
    destroyed."""
    with transaction.atomic(durable=True):
        return _revoke_locked(lock_credential_pk(credential.pk), actor=actor)


def reason_read(value: object) -> str:
    """The back office's reason (工单号/说明): required, at most 200 characters."""
    try:
        reason = inputs.text(value, max_length=REASON_MAX).strip()
    except inputs.BadInput:
        raise InvalidInput(
            _("吊销原因（工单号/说明）不能超过 {limit} 个字符").format(limit=REASON_MAX), code="reason_invalid"
        ) from None
    if not reason:
        raise InvalidInput(_("请填写吊销原因（工单号/说明）"), code="reason_required")
    return reason


def revoke_by_support(*, service_no: str, actor: Actor, reason: str) -> list[str]:
    """Customer service revokes a card's credential for key compromise (R6.1), the reason in the audit data."""
    reason = reason_read(reason)
    with transaction.atomic(durable=True):
        credential = lock_credential(service_no=service_no)
        if credential is None:
            raise NotFound(_("未找到该证书"), code="credential_unknown")
        return _revoke_locked(
            credential, actor=actor, data={"reason_text": reason, "by": "support"}, purpose=_("客服吊销（密钥泄露）")
        )


# --- the claimant on the phone: a fresh face check of their own -------------------------------------------------


def own_credential(*, account: str, service_no: str) -> Credential:
    """The claimant's own credential; anyone else's is not found (404), like everywhere on the phone."""
    credential = Credential.objects.select_related("claim").filter(service_no=service_no, account=account).first()
    if credential is None:
        raise NotFound(_("未找到该证书"), code="credential_unknown")
    return credential


def revoke_face_start(*, account: str, service_no: str) -> str:
    """Open a fresh live face check of the claimant for a revocation; returns where the phone plays it."""
    credential = own_credential(account=account, service_no=service_no)
    if credential.revoked_reason == KEY_COMPROMISE:
        raise _already_revoked()
    return credential_face_start(credential=credential, account=account, purpose=FACE_PURPOSE)


def revoke_face_finish(*, check_id: str, account: str) -> str:
    """The phone is back from the face check: record the signed result once; returns the credential's 服务编号.
    A failed check is refused (``face_failed``)."""
    return credential_face_finish(check_id=check_id, account=account, purpose=FACE_PURPOSE)


def revoke_by_claimant(
    *, account: str, service_no: str, check_id: str, bids_confirmed: bool, address: str | None
) -> list[str]:
    """The claimant revokes their own credential for key compromise: a passed face check of theirs for this
    credential (purpose "revoke", at most 10 minutes old, unused; spent here), and, when sealed bids would become
    unreadable, their confirmation of that list. Any refusal changes nothing."""
    unlocked = own_credential(account=account, service_no=service_no)
    bids = pending_bids(unlocked)  # bidding's query, before the lock
    with transaction.atomic(durable=True):
        credential = lock_credential(service_no=service_no, account=account)
        if credential is None:
            raise NotFound(_("未找到该证书"), code="credential_unknown")
        if credential.revoked_reason == KEY_COMPROMISE:
            raise _already_revoked()
        check = credential_face_spend(credential, check_id=check_id, account=account, purpose=FACE_PURPOSE)
        if bids and not bids_confirmed:
            raise InvalidInput(_("请确认已知晓以上投标文件将无法解密"), code="bids_unconfirmed")
        destroyed = _revoke_locked(
            credential,
            actor=Actor("phone", account),
            data={"by": "claimant", "face_check": check.check_id, "pending_bids": len(bids)},
            purpose=_("本人吊销（密钥泄露）"),
            address=address,
        )
        when = timezone.localtime(now()).strftime("%Y-%m-%d %H:%M")
        sms.notify_account(
            account=account,
            text=revoked_text(service_no=credential.service_no, when=when),
            link=links.link_url(links.CREDENTIALS),
        )
    return destroyed


def revoked_text(*, service_no: str, when: str) -> str:
    """The notice of a revocation for key compromise (SMS and message centre)."""
    return _(
        "【e签盾】您的证书 {service_no} 已于 {when} 因密钥泄露吊销，不能再签名和解密，使用该证书加密且尚未解密的"
        "投标文件将无法解密。如非本人或客服受理的操作，请立即联系客服。"
    ).format(service_no=service_no, when=when)
