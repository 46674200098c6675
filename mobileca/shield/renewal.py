"""Renewal and expiry of a credential (R4.1, R4.2, R4.6, §7).

Renewal is claimed like a card (a QR code per paid renewal order), but only by the card's current claimant. It
re-keys: new key pairs and certificates, the old ones revoked as superseded, 服务到期时间 one term later. The old
signing key is replaced (gone); the old encryption key is archived (issue 21), so bid files sealed for it stay
readable by the claimant with the PIN (a split credential's archived encryption share, with the phone's half still in
the browser that made it). Before it completes the claimant sees the card's sealed, not yet decrypted bid
files — from whoever holds them (bidding registers a provider) — and which key will open them, and confirms having
read the list.

Expiry: reminders 30 and 7 days before (SMS and the pages); an expired credential signs and decrypts nothing
(``keyuse.refuse_unless_usable``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from mobileca.audit.services import Actor, audit_record
from mobileca.ca import facade as ca_facade
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, Conflict, InvalidInput, NotFound, PermissionDenied
from mobileca.shield import cosign_keys, links, members, sms
from mobileca.shield.claims import add_months, claim_of_claimant_locked
from mobileca.shield.credential_keys import (
    KeyPairs,
    SplitPublicKeys,
    credential_recertify,
    encryption_key_archive,
    key_pairs_new,
    split_public_keys,
)
from mobileca.shield.locks import lock_claims, lock_credential_pk, lock_enterprise
from mobileca.shield.models import (
    ClaimSession,
    ClaimStatus,
    ClaimStep,
    Credential,
    ShieldEnterprise,
)
from mobileca.shield.pin import pin_check, pin_guess
from mobileca.shield.records import record_operation
from mobileca.shield.transitions import claim_move

SERVICE = Actor("system", "shield")


# --- what renewal would make unreadable (R4.2): an interface bidding fills --------------------------------------


@dataclass(frozen=True)
class PendingBid:
    """A bid file sealed for this credential's encryption certificate and not yet decrypted."""

    tender_no: str
    tender_name: str
    opening_at: datetime
    file_name: str


PendingBidsProvider = Callable[[Credential], list[PendingBid]]
_providers: list[PendingBidsProvider] = []


def register_pending_bids_provider(provider: PendingBidsProvider) -> None:
    """Bidding calls this at start-up with a function listing a credential's sealed, undecrypted bids."""
    if provider not in _providers:
        _providers.append(provider)


def pending_bids(credential: Credential) -> list[PendingBid]:
    found = [bid for provider in _providers for bid in provider(credential)]
    return sorted(found, key=lambda bid: (bid.opening_at, bid.tender_no, bid.file_name))


def credential_of_card(card_ref: str) -> Credential | None:
    return Credential.objects.filter(claim__card_ref=card_ref, claim__kind="claim").first()


# --- completing a renewal --------------------------------------------------------------------------------------


@sensitive_variables()
def renewal_complete(
    *, ticket: str, account: str, pin: str, confirmed_bids: bool, address: str | None = None
) -> Credential:
    """「确认续费」: the claimant read the list of sealed bids (which the archived key will open), and enters the PIN.
    Then new key pairs are made, the old encryption key is archived, the CA re-keys (old certificates revoked as
    superseded), the expiry moves by one term."""
    renewal = ClaimSession.objects.filter(ticket=ticket, kind="renewal").first()
    if renewal is None or renewal.status != ClaimStatus.BOUND or renewal.claimant_account != account:
        raise PermissionDenied(_("只有申领人本人可以继续此申领"), code="not_claimant")
    credential = credential_of_card(renewal.card_ref)
    if credential is None:
        raise NotFound(_("未找到该证书"), code="credential_unknown")
    bids = pending_bids(credential)
    if bids and not confirmed_bids:
        raise InvalidInput(_("请先阅读并确认未解密的投标文件清单"), code="bids_not_confirmed")
    profile = ca_facade.key_profile(credential.key_profile)  # a renewal keeps the credential's key profile
    split = cosign_keys.is_split(credential)  # and its custody: split keys are made again on the phone (issue 20)
    keys = None if split else key_pairs_new(profile)  # before any lock
    guess = pin_guess(credential, pin)  # argon2id before any lock too
    refusal: ApplicationError | None = None
    with transaction.atomic(durable=True):
        # the lock order: the enterprise, both claims in pk order (the card's first, then this renewal), the credential
        lock_enterprise(renewal.enterprise_uscc)
        lock_claims(pks=[credential.claim_id, renewal.pk])
        renewal = claim_of_claimant_locked(ticket, account, at=ClaimStep.RENEWAL)  # held already: no wait
        credential = lock_credential_pk(credential.pk)
        enterprise = ShieldEnterprise.objects.get(uscc=credential.enterprise_uscc)  # locked with the claim
        if not members.is_member(enterprise, account):
            raise PermissionDenied(_("您已不是该企业的成员，不能续费该证书"), code="not_member")
        for serial in (credential.sign_serial, credential.encrypt_serial):
            if ca_facade.certificate_info(serial_hex=serial).status != "good":
                raise PermissionDenied(_("该证书已吊销，不能续费；如需使用请重新购买"), code="credential_revoked")
        shares = cosign_keys.pending_shares(claim=renewal) if split else {}
        if split and set(shares) != set(cosign_keys.USAGES):  # the phone page makes its halves before this POST
            raise Conflict(_("手机尚未生成新的协同密钥，请在支持脚本的浏览器中重试"), code="cosign_keys_missing")
        refusal = pin_check(credential, guess, platform=renewal.platform, purpose=_("续费"), address=address)
        if refusal is None:
            _rekey(renewal, credential, keys or split_public_keys(shares), bids=bids, address=address)
            if split:
                cosign_keys.certify(shares, credential)  # the old sign share destroyed; the encrypt one archived
    if refusal is not None:
        raise refusal
    return credential


@sensitive_variables()
def _rekey(
    renewal: ClaimSession,
    credential: Credential,
    keys: KeyPairs | SplitPublicKeys,
    *,
    bids: list[PendingBid],
    address: str | None,
) -> None:
    moment = now()
    start = max(credential.expires_at, moment)  # time left is kept; an expired card starts again today
    expires_at = add_months(start, renewal.term_months)
    owner = f"credential:{credential.service_no}"
    certified = credential_recertify(credential, keys, not_after=expires_at)
    old = (credential.sign_serial, credential.encrypt_serial)
    archived = encryption_key_archive(credential)  # issue 21: the old encryption key kept for the sealed bids
    credential.sign_key_wrapped, credential.encrypt_key_wrapped = (
        certified.sign_key_wrapped,
        certified.encrypt_key_wrapped,
    )
    credential.sign_serial, credential.encrypt_serial = certified.sign_serial, certified.encrypt_serial
    credential.expires_at, credential.reminded_30_at, credential.reminded_7_at = expires_at, None, None
    credential.save(
        update_fields=[
            "sign_key_wrapped",
            "encrypt_key_wrapped",
            "sign_serial",
            "encrypt_serial",
            "expires_at",
            "reminded_30_at",
            "reminded_7_at",
        ]
    )
    renewal.service_no, renewal.service_expires_at = credential.service_no, expires_at
    claim_move(renewal, status=ClaimStatus.ACTIVATED, step=ClaimStep.DONE, also=["service_no", "service_expires_at"])
    original = ClaimSession.objects.get(pk=credential.claim_id)  # locked by the caller
    original.service_expires_at = expires_at
    original.save(update_fields=["service_expires_at"])
    audit_record(
        action="credential.renewed",
        subject=owner,
        actor=Actor("phone", credential.account),
        data={
            "order": renewal.order_ref,
            "expires_at": expires_at.isoformat(),
            "revoked": list(old),
            "sign": certified.sign_serial,
            "encrypt": certified.encrypt_serial,
            "bids_acknowledged": [f"{bid.tender_no}/{bid.file_name}" for bid in bids],
            "archived_encrypt": archived.serial if archived is not None else "",
        },
    )
    record_operation(
        action="renewal",
        account=credential.account,
        enterprise_uscc=credential.enterprise_uscc,
        credential=credential,
        platform=renewal.platform,
        purpose=_("续费至 {date}").format(date=timezone.localtime(expires_at).strftime("%Y-%m-%d")),
        address=address,
    )


# --- expiry reminders (§7: 30 and 7 days before) ---------------------------------------------------------------

REMINDER_FIRST = timedelta(days=30)  # §7: the first reminder; the pages say 「即将到期」 from then on
REMINDER_LAST = timedelta(days=7)


def expiry_reminders_send() -> int:
    """The daily job: one text per threshold per credential term (SMS sandbox); the pages show it as well."""
    sent = 0
    for lead, field in ((REMINDER_LAST, "reminded_7_at"), (REMINDER_FIRST, "reminded_30_at")):
        due = Credential.objects.filter(
            expires_at__gt=now(), expires_at__lte=now() + lead, **{f"{field}__isnull": True}
        ).values_list("pk", flat=True)
        for credential_id in due:
            with transaction.atomic(durable=True):
                credential = lock_credential_pk(credential_id)
                if getattr(credential, field) is not None:
                    continue
                setattr(credential, field, now())
                if field == "reminded_7_at" and credential.reminded_30_at is None:
                    credential.reminded_30_at = now()  # no 30-day text after the 7-day one
                credential.save(update_fields=["reminded_30_at", "reminded_7_at"])
                audit_record(
                    action="credential.expiry_reminded",
                    subject=f"credential:{credential.service_no}",
                    actor=SERVICE,
                    data={"days": lead.days},
                )
                _text_expiry(credential)
                sent += 1
    return sent


def _text_expiry(credential: Credential) -> None:
    text = _(
        "【e签盾】您的移动 CA 证书 {service_no} 将于 {date} 到期，到期后不能签名和解密。请在平台「CA 续费申领」中续费。"
    ).format(service_no=credential.service_no, date=timezone.localtime(credential.expires_at).strftime("%Y-%m-%d"))
    sms.notify_account(account=credential.account, text=text, link=links.link_url(links.CREDENTIALS))
