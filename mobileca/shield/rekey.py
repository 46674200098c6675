"""A lost or cleared phone, or a forgotten PIN, for a two-party SM2 credential (issue 20, R4.3): 「更换密钥」.

The phone's half of a split key lives only in the phone page's storage, sealed under the pepper and the PIN: a
cleared browser, a lost phone or a forgotten PIN leaves the key unusable, and nobody — the service included — can
bring it back. The claimant re-keys *to themselves* (谁申领谁使用: only the credential's own account, never another
person) after a fresh face check (the PIN reset's: passed in the last 10 minutes, used once): the phone page makes
new halves (``cosign.keygen_begin(service_no=…)`` while the check is passed and unused), then ``rekey`` issues new
certificates for the new public keys with the same expiry (the CA revokes the old ones as superseded), makes the
new shares live (the old ones destroyed: the old phone half alone is useless), sets the new PIN (lifting any lock)
and consumes the face check; audited and an operation record 「更换密钥」. Bid files sealed for the old encryption
certificate can no longer be opened: the page lists them first (``renewal.pending_bids``) and the claimant
confirms, as for a renewal. For a split credential the PIN reset *is* this re-key."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from mobileca.audit.services import Actor, audit_record
from mobileca.ca import facade as ca_facade
from mobileca.core.clock import now
from mobileca.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from mobileca.shield import cosign_keys, links, members, sms
from mobileca.shield.credential_keys import archived_keys_destroy, credential_recertify, split_public_keys
from mobileca.shield.faces import credential_face_spend
from mobileca.shield.locks import lock_claims, lock_credential_pk, lock_enterprise
from mobileca.shield.models import CosignShare, Credential, FaceCheck, ShieldEnterprise
from mobileca.shield.pin import RESET_PURPOSE, pin_hash_new
from mobileca.shield.records import record_operation
from mobileca.shield.renewal import PendingBid, pending_bids

REKEY_ACTION = "rekey"  # the operation record's action: 「更换密钥」


def split_credential_of(account: str, service_no: str) -> Credential | None:
    """The claimant's own credential ``service_no`` if its keys are split, else None."""
    credential = Credential.objects.filter(service_no=service_no, account=account).first()
    return credential if credential is not None and cosign_keys.is_split(credential) else None


@sensitive_variables()
def rekey(
    *,
    account: str,
    service_no: str,
    check_id: str,
    new_pin: str,
    new_again: str,
    confirmed_bids: bool,
    address: str | None = None,
) -> Credential:
    """「更换密钥」 of the claimant's own split credential with the phone's new halves (both usages, made after the
    face check ``check_id`` passed) and a new PIN. Refusals change nothing: no certificate, share, PIN or face check
    is touched unless everything holds."""
    new_hash = pin_hash_new(new_pin, new_again)  # argon2id before any lock
    unlocked = Credential.objects.filter(service_no=service_no, account=account).first()
    if unlocked is None or not account:
        raise NotFound(_("未找到该证书"), code="credential_unknown")
    if not cosign_keys.is_split(unlocked):
        raise Conflict(_("该证书的密钥不是手机与服务共同持有的"), code="not_split")
    bids = pending_bids(unlocked)  # the renewal's list: what the re-key makes unreadable
    if bids and not confirmed_bids:
        raise InvalidInput(_("请先阅读并确认未解密的投标文件清单"), code="bids_not_confirmed")
    with transaction.atomic(durable=True):
        # the lock order: the enterprise, the credential's claim, the credential, then its face check
        lock_enterprise(unlocked.enterprise_uscc)
        lock_claims(pks=[unlocked.claim_id])
        credential = lock_credential_pk(unlocked.pk)
        check = credential_face_spend(credential, check_id=check_id, account=account, purpose=RESET_PURPOSE)
        enterprise = ShieldEnterprise.objects.get(uscc=credential.enterprise_uscc)
        if not members.is_member(enterprise, account):
            raise PermissionDenied(_("您已不是该企业的成员，不能更换该证书的密钥"), code="not_member")
        for serial in (credential.sign_serial, credential.encrypt_serial):
            if ca_facade.certificate_info(serial_hex=serial).status != "good":
                raise PermissionDenied(_("该证书已吊销，不能更换密钥"), code="credential_revoked")
        if credential.expires_at <= now():
            raise Conflict(_("该证书已到期，请先续费"), code="credential_expired")
        shares = cosign_keys.pending_shares(credential=credential)
        if set(shares) != set(cosign_keys.USAGES):  # the phone page makes its halves before this POST
            raise Conflict(_("手机尚未生成新的协同密钥，请在支持脚本的浏览器中重试"), code="cosign_keys_missing")
        _rekey(credential, shares, check=check, new_hash=new_hash, bids=bids, address=address)
    return credential


def _rekey(
    credential: Credential,
    shares: dict[str, CosignShare],
    *,
    check: FaceCheck,
    new_hash: str,
    bids: list[PendingBid],
    address: str | None,
) -> None:
    """In the caller's transaction, everything locked and checked: certify, make live, set the PIN, record."""
    moment = now()
    # the same term: a re-key is not a renewal; the old certificates revoked as superseded
    certified = credential_recertify(credential, split_public_keys(shares), not_after=credential.expires_at)
    old = (credential.sign_serial, credential.encrypt_serial)
    credential.sign_serial, credential.encrypt_serial = certified.sign_serial, certified.encrypt_serial
    credential.pin_hash, credential.pin_changed_at = new_hash, moment
    credential.pin_failures, credential.locked_until = 0, None
    credential.save(
        update_fields=["sign_serial", "encrypt_serial", "pin_hash", "pin_changed_at", "pin_failures", "locked_until"]
    )
    cosign_keys.certify(shares, credential)  # the old shares destroyed: the old phone half is useless now
    # the halves kept from before renewals were in the lost phone, or sealed under the forgotten PIN (issue 21)
    archived = archived_keys_destroy(credential)
    audit_record(
        action="credential.rekeyed",
        subject=f"credential:{credential.service_no}",
        actor=Actor("phone", credential.account),
        data={
            "revoked": list(old),
            "sign": certified.sign_serial,
            "encrypt": certified.encrypt_serial,
            "face_check": check.check_id,
            "archived_destroyed": archived,
            "bids_acknowledged": [f"{bid.tender_no}/{bid.file_name}" for bid in bids],
        },
    )
    record_operation(
        action=REKEY_ACTION,
        account=credential.account,
        enterprise_uscc=credential.enterprise_uscc,
        credential=credential,
        purpose=_("更换密钥（人脸识别后）"),
        address=address,
        data={"revoked": list(old), "sign": certified.sign_serial, "encrypt": certified.encrypt_serial},
    )
    when = timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")
    sms.notify_account(
        account=credential.account,
        text=_(
            "【e签盾】您的证书 {service_no} 已于 {when} 更换密钥并重设 PIN 码，原证书已作废。"
            "如非本人操作，请立即联系客服。"
        ).format(service_no=credential.service_no, when=when),
        link=links.link_url(links.CREDENTIALS),
    )


__all__ = ["REKEY_ACTION", "rekey", "split_credential_of"]
