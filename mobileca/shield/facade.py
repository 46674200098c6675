"""The signing service's door for the platform: card references and frozen dataclasses, never ORM objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from mobileca.audit.services import Actor
from mobileca.ca import facade as ca_facade
from mobileca.core.errors import NotFound
from mobileca.shield import claims, cosign_keys, keyuse, revocation
from mobileca.shield.callers import Caller, credential_for
from mobileca.shield.credential_keys import archived_key_live
from mobileca.shield.models import ClaimSession, ClaimStatus, Credential, PhoneAccount
from mobileca.shield.oauth import caller_for_bearer
from mobileca.shield.renewal import (
    REMINDER_FIRST,
    PendingBid,
    credential_of_card,
    pending_bids,
    register_pending_bids_provider,
)

__all__ = ["PendingBid", "register_pending_bids_provider"]  # the renewal warning's interface, for bidding


@dataclass(frozen=True)
class ClaimTicket:
    card_ref: str
    kind: str  # claim | renewal
    order_ref: str
    status: str  # waiting | bound | activated
    qr_url: str  # what the QR code holds: the signing service's phone page for this ticket
    ticket_expires_at: datetime
    service_no: str
    service_expires_at: datetime | None


def _ticket(claim: ClaimSession) -> ClaimTicket:
    return ClaimTicket(
        card_ref=claim.card_ref,
        kind=claim.kind,
        order_ref=claim.order_ref,
        status=claim.status,
        qr_url=settings.MOBILECA_PUBLIC_URL + reverse("shield:h5_claim", args=[claim.ticket]),
        ticket_expires_at=claim.ticket_expires_at,
        service_no=claim.service_no,
        service_expires_at=claim.service_expires_at,
    )


def claim_open(*, card_ref: str, enterprise_name: str, enterprise_uscc: str, order_ref: str = "") -> ClaimTicket:
    """The card's claim, or with ``order_ref`` the claim of that paid renewal order (R4.1)."""
    return _ticket(
        claims.claim_open(
            card_ref=card_ref,
            platform=settings.MOBILECA_PLATFORM_NAME,
            enterprise_name=enterprise_name,
            enterprise_uscc=enterprise_uscc,
            order_ref=order_ref,
        )
    )


def claim_refresh(*, card_ref: str, order_ref: str = "") -> ClaimTicket:
    return _ticket(claims.claim_refresh(card_ref=card_ref, order_ref=order_ref))


@dataclass(frozen=True)
class RenewalWarning:
    """A sealed, unopened bid file of the card (R4.2). After a renewal it stays readable (issue 21): the current
    encryption key (certificate ``encrypt_serial``) is archived and opens it, by the claimant with the PIN. For a
    card whose keys are split between phone and service (``phone_half``) the phone keeps its half of the archived
    key in the browser that made it: the bid opens only there."""

    tender_no: str
    tender_name: str
    opening_at: datetime
    file_name: str
    encrypt_serial: str = ""
    phone_half: bool = False


def renewal_warnings(*, card_ref: str) -> list[RenewalWarning]:
    """R4.2: the card's sealed bid files not yet decrypted, and the key that will open them after a renewal."""
    credential = credential_of_card(card_ref)
    if credential is None:
        return []
    split = cosign_keys.is_split(credential)
    return [
        RenewalWarning(bid.tender_no, bid.tender_name, bid.opening_at, bid.file_name, credential.encrypt_serial, split)
        for bid in pending_bids(credential)
    ]


def claims_activated(*, card_refs: list[str]) -> list[ClaimTicket]:
    """The activated claims among these cards (the platform reconciles cards whose claim page was not open)."""
    rows = ClaimSession.objects.filter(card_ref__in=card_refs, kind="claim", status="activated")
    return [_ticket(claim) for claim in rows]


def renewals_completed(*, order_refs: list[str]) -> list[ClaimTicket]:
    """The completed renewals among these paid renewal orders, with the new 服务到期时间."""
    rows = ClaimSession.objects.filter(order_ref__in=order_refs, kind="renewal", status="activated")
    return [_ticket(claim) for claim in rows]


# --- key use for the platform (bidding): the platform is a client of the remote-signing service -----------------


def _platform() -> Caller:
    return Caller("client", "platform", settings.MOBILECA_PLATFORM_NAME)


@dataclass(frozen=True)
class CredentialCertificates:
    service_no: str
    sign_pem: str
    encrypt_pem: str
    chain_pems: list[str]
    expires_at: datetime
    key_profile: str = ca_facade.DEFAULT_KEY_PROFILE.name  # a ``KeyProfile.name``: the algorithm the keys sign with


def credential_certificates(*, service_no: str) -> CredentialCertificates:
    credential = credential_for(_platform(), service_no)
    return CredentialCertificates(
        service_no=credential.service_no,
        sign_pem=ca_facade.certificate_pem(serial_hex=credential.sign_serial),
        encrypt_pem=ca_facade.certificate_pem(serial_hex=credential.encrypt_serial),
        chain_pems=ca_facade.chain_pems(credential.key_profile),
        expires_at=credential.expires_at,
        key_profile=credential.key_profile,
    )


@dataclass(frozen=True)
class KeyReadiness:
    """Whether the signing service can still open an envelope sealed for ``recipient_serial`` (issue 21): ``problem``
    is "" when it can, else a code: ``credential_unknown``, ``credential_revoked`` (the card's certificates revoked),
    ``key_replaced`` (sealed for a key the service no longer holds), ``expires_before_opening`` (the card is not valid
    at the opening time), ``renewal_pending`` (a split-key card's renewal started: afterwards only the browser
    holding the phone's half of the archived key can open the bid).
    ``key`` says which key would open it: "current" or "archived"."""

    problem: str
    key: str = ""
    expires_at: datetime | None = None


def key_readiness(*, service_no: str, recipient_serial: str, opening_at: datetime) -> KeyReadiness:
    """The service's side of the readiness check before an opening (「开标前解密检查」, issue 21)."""
    credential = Credential.objects.filter(service_no=service_no).first()
    if credential is None:
        return KeyReadiness(problem="credential_unknown")
    removed = credential.revoked_reason == "affiliation_changed"  # the claimant alone may still decrypt (issue 21)
    if not removed and ca_facade.certificate_info(serial_hex=credential.encrypt_serial).status != "good":
        return KeyReadiness(problem="credential_revoked", expires_at=credential.expires_at)
    if recipient_serial.lower() != credential.encrypt_serial.lower():
        if archived_key_live(credential, recipient_serial) is None:
            return KeyReadiness(problem="key_replaced", expires_at=credential.expires_at)
        if credential.expires_at <= opening_at:  # an expired card decrypts nothing, archived keys included
            return KeyReadiness(problem="expires_before_opening", key="archived", expires_at=credential.expires_at)
        return KeyReadiness(problem="", key="archived", expires_at=credential.expires_at)  # a renewal keeps it
    if credential.expires_at <= opening_at:
        return KeyReadiness(problem="expires_before_opening", key="current", expires_at=credential.expires_at)
    renewing = ClaimSession.objects.filter(kind="renewal", card_ref=credential.claim.card_ref)
    # a renewal's re-key archives the encryption key, so the bid stays readable; a split key's archived half is in
    # the browser that made it, so a split card's renewal before the opening ties the bid to that browser
    if cosign_keys.is_split(credential) and renewing.exclude(status=ClaimStatus.ACTIVATED).exists():
        return KeyReadiness(problem="renewal_pending", key="current", expires_at=credential.expires_at)
    return KeyReadiness(problem="", key="current", expires_at=credential.expires_at)


def notify_claimant(*, service_no: str, text: str) -> None:
    """A text message to the credential's claimant (the platform never learns the phone number)."""
    from mobileca.shield import sms

    account = Credential.objects.filter(service_no=service_no).values_list("account", flat=True).first()
    if account:
        sms.notify_account(account=account, text=text)


@dataclass(frozen=True)
class PendingAuthorization:
    handle: str
    url: str  # what the QR code holds: the claimant's phone page for this request


def authorization_request(
    *,
    service_no: str,
    operation: str,
    hashes: list[str],
    purpose: str,
    file_name: str,
    address: str | None = None,
    file_size: int | None = None,
    file_sha256: bytes = b"",
    signed_attributes: bytes = b"",
    tender_no: str = "",
    tender_name: str = "",
    file_sm3: bytes = b"",
    envelope: bytes = b"",
) -> PendingAuthorization:
    """The platform asks the claimant to authorise on the phone (it never sees a PIN). The phone shows the file's
    name, size and tender, and for signing its digest — the same digest the bid page shows — which must be the
    message digest inside ``signed_attributes``; otherwise the request is refused (``digest_mismatch``) and
    recorded (issue 18). The digest is the credential's profile's: ``file_sha256`` for ECDSA and RSA credentials
    (the one hash to sign is the SHA-256 of ``signed_attributes``), ``file_sm3`` for SM2 credentials (GB/T 35275:
    the one hash to sign is ``cmslib.gm.attributes_hash(signed_attributes, signing certificate)``, e = SM3(Z ‖
    attributes)); the other one is refused (issue 19). A decryption's ``envelope`` (the header whose SHA-256 is the
    one hash) lets the phone of a split-key credential take its part (issue 20)."""
    result = keyuse.authorize(
        caller=_platform(),
        credential_id=service_no,
        operation=operation,
        hashes=hashes,
        pin=None,
        purpose=purpose,
        file_name=file_name,
        address=address,
        document=keyuse.Document(
            size=file_size,
            sha256=file_sha256,
            signed_attributes=signed_attributes,
            tender_no=tender_no,
            tender_name=tender_name,
            sm3=file_sm3,
            envelope=envelope,
        ),
    )
    return PendingAuthorization(handle=result.handle, url=keyuse.authorization_url(result.public_ref))


def authorization_sad(*, handle: str) -> str:
    """The SAD once the claimant approved, "" while waiting; refusals and expiry raise."""
    result = keyuse.authorize_check(caller=_platform(), handle=handle)
    return result.sad if result.status == "authorized" else ""


@sensitive_variables()
def sign_hashes(*, service_no: str, sad: str, hashes: list[str], address: str | None = None) -> list[bytes]:
    return keyuse.sign_hashes(caller=_platform(), credential_id=service_no, sad=sad, hashes=hashes, address=address)


@sensitive_variables()
def content_key(*, service_no: str, sad: str, envelope: bytes, address: str | None = None) -> bytes:
    return keyuse.decrypt_envelope(
        caller=_platform(), credential_id=service_no, sad=sad, envelope=envelope, address=address
    ).key


@dataclass(frozen=True)
class OpenedKey:
    """An envelope's content key and which key opened it: ``archived_serial`` is the serial of the encryption
    certificate from before a renewal whose archived key opened it (issue 21), "" for the current key."""

    key: bytes
    archived_serial: str = ""


@sensitive_variables()
def content_key_opened(*, service_no: str, sad: str, envelope: bytes, address: str | None = None) -> OpenedKey:
    """``content_key``, saying which key opened the envelope (the opening tells the bidder, issue 21)."""
    opened = keyuse.decrypt_envelope_with(
        caller=_platform(), credential_id=service_no, sad=sad, envelope=envelope, address=address
    )
    return OpenedKey(key=opened.content_key.key, archived_serial=opened.archived_serial)


@sensitive_variables()
def account_for_token(*, token: str) -> str:
    """The claimant behind a tool's bearer token, or "" (the platform's bidding API accepts the tool's login)."""
    caller = caller_for_bearer(token)
    return caller.ident if caller is not None and caller.kind == "token" else ""


def credential_account(*, service_no: str) -> str:
    credential = Credential.objects.filter(service_no=service_no).first()
    return credential.account if credential else ""


def claim_progress(*, card_refs: list[str]) -> dict[str, str]:
    """For support: each card's claim as the signing service sees it — status and step (no personal data)."""
    rows = ClaimSession.objects.filter(card_ref__in=card_refs, kind="claim")
    return {claim.card_ref: f"{claim.get_status_display()} · {claim.get_step_display()}" for claim in rows}


def expiry_reminder_lead() -> timedelta:
    """How long before expiry a credential is first reminded (§7); the platform's cards say 「即将到期」 from then."""
    return REMINDER_FIRST


def credential_holders(*, service_nos: list[str]) -> dict[str, str]:
    """The claimant's name of each of these credentials (服务编号 → 「王建国」), for the platform's card chooser; a
    credential the service does not know is left out."""
    accounts = dict(Credential.objects.filter(service_no__in=service_nos).values_list("service_no", "account"))
    names = dict(PhoneAccount.objects.filter(account__in=set(accounts.values())).values_list("account", "name"))
    return {service_no: names[account] for service_no, account in accounts.items() if account in names}


# --- revocation for key compromise, for customer service (issue 21, R6.1) -----------------------------------------


@dataclass(frozen=True)
class RevocationPreview:
    """What a revocation for key compromise of this card would do, before it is done: the card's 服务编号, its
    holder's name masked (「王*国」), 服务到期时间, the two certificate serials, and how many sealed, unopened bids
    become unreadable. ``revoked`` is True when it is already revoked for key compromise (nothing more to do)."""

    service_no: str
    holder_masked: str
    expires_at: datetime
    sign_serial: str
    encrypt_serial: str
    pending_bids: int
    revoked: bool


def revocation_preview(*, service_no: str) -> RevocationPreview:
    credential = Credential.objects.filter(service_no=service_no).first() if service_no else None
    if credential is None:
        raise NotFound(_("未找到该证书"), code="credential_unknown")
    return RevocationPreview(
        service_no=credential.service_no,
        holder_masked=keyuse.masked_name(keyuse.holder_name(credential.account)),
        expires_at=credential.expires_at,
        sign_serial=credential.sign_serial,
        encrypt_serial=credential.encrypt_serial,
        pending_bids=len(pending_bids(credential)),
        revoked=credential.revoked_reason == revocation.KEY_COMPROMISE,
    )


def revoked_for_key_compromise(*, service_nos: list[str]) -> set[str]:
    """Which of these credentials are revoked for key compromise (the cards say 「已吊销（密钥泄露）」)."""
    rows = Credential.objects.filter(service_no__in=service_nos, revoked_reason=revocation.KEY_COMPROMISE)
    return set(rows.values_list("service_no", flat=True))


@dataclass(frozen=True)
class Revoked:
    service_no: str
    archived_destroyed: int  # how many archived encryption keys (from before renewals) were destroyed


def revoke_for_key_compromise(*, service_no: str, actor: Actor, reason: str) -> Revoked:
    """Customer service revokes the card's credential for key compromise: both certificates revoked
    (keyCompromise), archived keys and a split credential's shares destroyed, 「证书吊销」 in the claimant's
    操作记录, the operator and the reason (工单号/说明, required, at most 200 characters) in the audit log. Already
    revoked: ``already_revoked``, nothing changed. The caller tells the claimant (``notify_claimant``)."""
    destroyed = revocation.revoke_by_support(service_no=service_no, actor=actor, reason=reason)
    return Revoked(service_no=service_no, archived_destroyed=len(destroyed))


def revoked_notice_text(*, service_no: str, when: str) -> str:
    return revocation.revoked_text(service_no=service_no, when=when)
