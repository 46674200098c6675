"""The signing service's shares of two-party SM2 keys (协同签名, issue 20) at rest: made during a claim, a renewal or
a lost phone's re-key, certified with the credential (then live), destroyed when replaced. Each share's d2 and pepper
are wrapped under the master key (owner ``cosign:<ref>``) through the CA's key back-end and unwrapped only for one
round; neither appears in logs, records or error reports (``sensitive_variables``).

This module holds no policy about who may do what (``shield.cosign`` has the rounds, ``shield.keyuse`` the
authorisations); it is what claims, renewals and key use share without importing each other."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db.models import Q
from django.views.decorators.debug import sensitive_variables

from mobileca.ca import facade as ca_facade
from mobileca.core.clock import now
from mobileca.shield.models import ClaimSession, CosignShare, Credential

USAGES = ("sign", "encrypt")
SPLIT = "split"


def is_split(credential: Credential) -> bool:
    """Whether the credential's keys are split between the phone and the service (no wrapped private key here)."""
    return credential.key_custody == SPLIT


def split_for_new_credentials() -> bool:
    """``MOBILECA_KEY_CUSTODY=split``: new credentials get two-party keys, generated on the claimant's phone page."""
    return bool(settings.MOBILECA_KEY_CUSTODY == SPLIT)


def owner_id(share: CosignShare) -> str:
    return f"cosign:{share.ref}"


def new_ref() -> str:
    return secrets.token_hex(16)


@sensitive_variables()
def wrap(ref: str, plaintext: bytes) -> bytes:
    return ca_facade.wrap_bytes(owner_id=f"cosign:{ref}", plaintext=plaintext)


@sensitive_variables()
def server_share(share: CosignShare) -> ca_facade.sm2_cosign.ServerShare:
    """The share's arithmetic half, d2 unwrapped for this one use."""
    d2 = ca_facade.unwrap_bytes(owner_id=owner_id(share), blob=bytes(share.d2_wrapped))
    return ca_facade.sm2_cosign.ServerShare(
        d2=d2, p1=bytes.fromhex(share.p1), public_point=bytes.fromhex(share.public_key)
    )


@sensitive_variables()
def pepper(share: CosignShare) -> bytes:
    return ca_facade.unwrap_bytes(owner_id=owner_id(share), blob=bytes(share.pepper_wrapped))


def public_key(share: CosignShare) -> ca_facade.Sm2PublicKey:
    return ca_facade.Sm2PublicKey.from_point(bytes.fromhex(share.public_key))


def live_share(credential: Credential, usage: str) -> CosignShare | None:
    """The certified, not destroyed, not archived share of ``usage`` (sign or encrypt) of the credential."""
    return (
        CosignShare.objects.select_related("credential")
        .filter(
            credential=credential,
            usage=usage,
            certified_at__isnull=False,
            destroyed_at__isnull=True,
            archived_at__isnull=True,
        )
        .first()
    )


def encrypt_share_for(credential: Credential, serial: str) -> CosignShare | None:
    """The encryption share for the certificate ``serial``: the live one for the current certificate, else the
    archived share a renewal kept for that certificate (issue 21), not destroyed."""
    if not serial or serial.lower() == credential.encrypt_serial.lower():
        return live_share(credential, "encrypt")
    return (
        CosignShare.objects.select_related("credential")
        .filter(
            credential=credential,
            usage="encrypt",
            archived_at__isnull=False,
            destroyed_at__isnull=True,
            archive__serial__iexact=serial,
        )
        .first()
    )


def archived_public_keys(credential: Credential) -> list[str]:
    """The public keys (hex) of the credential's archived encryption shares not destroyed, oldest first: halves the
    phone keeps for the bids sealed before a renewal, sealed again with the live ones on a PIN change."""
    return list(
        CosignShare.objects.filter(credential=credential, archived_at__isnull=False, destroyed_at__isnull=True)
        .order_by("archived_at", "pk")
        .values_list("public_key", flat=True)
    )


def share_with_public_key(credential: Credential, public_key: str) -> CosignShare | None:
    """The credential's live or archived share (not destroyed) whose public key is ``public_key`` (hex)."""
    return (
        CosignShare.objects.select_related("credential")
        .filter(
            credential=credential, certified_at__isnull=False, destroyed_at__isnull=True, public_key=public_key.lower()
        )
        .first()
    )


def archive(share: CosignShare) -> None:
    """In the renewal's transaction: the live encryption share stops being live and is kept for the bids sealed
    for its certificate; its d2 and pepper stay wrapped as they were."""
    share.archived_at = now()
    share.save(update_fields=["archived_at"])


def live_public_keys(credential: Credential) -> dict[str, str]:
    """The public key (hex) of each live share, by usage: where the phone page files its halves (one query)."""
    return dict(
        CosignShare.objects.filter(
            credential=credential, certified_at__isnull=False, destroyed_at__isnull=True, archived_at__isnull=True
        ).values_list("usage", "public_key")
    )


def pending_shares(
    *, claim: ClaimSession | None = None, credential: Credential | None = None
) -> dict[str, CosignShare]:
    """The newest share of each usage made for ``claim`` (a claim or renewal at its PIN step) or for ``credential``
    (a re-key), not yet certified nor destroyed."""
    found = CosignShare.objects.filter(certified_at__isnull=True, destroyed_at__isnull=True)
    found = found.filter(claim=claim) if claim is not None else found.filter(credential=credential, claim__isnull=True)
    shares: dict[str, CosignShare] = {}
    for share in found.order_by("created_at", "pk"):
        shares[share.usage] = share
    return shares


def destroy(shares: list[CosignShare]) -> None:
    """In the caller's transaction: the shares' d2 and pepper erased (their wrapped blobs overwritten), marked
    destroyed. The phone's half alone is then useless."""
    moment = now()
    for share in shares:
        share.d2_wrapped, share.pepper_wrapped, share.destroyed_at = b"", b"", moment
        share.save(update_fields=["d2_wrapped", "pepper_wrapped", "destroyed_at"])


def certify(shares: dict[str, CosignShare], credential: Credential) -> None:
    """In the caller's transaction, once the certificates for the shares' public keys are issued: the shares become
    the credential's live ones; the live shares they replace are destroyed (a renewal archived its old encryption
    share first, so that one is kept)."""
    replaced = list(
        CosignShare.objects.filter(
            credential=credential, certified_at__isnull=False, destroyed_at__isnull=True, archived_at__isnull=True
        )
    )
    destroy(replaced)
    moment = now()
    for share in shares.values():
        share.credential, share.certified_at = credential, moment
        share.save(update_fields=["credential", "certified_at"])


def destroy_all(credential: Credential) -> int:
    """In the caller's transaction: every share of the credential, live, pending (a re-key's, or made for a renewal
    of its card not yet confirmed) or archived, destroyed (revocation for key compromise). Returns how many."""
    renewal = Q(claim__kind="renewal", claim__card_ref=credential.claim.card_ref, certified_at__isnull=True)
    shares = list(CosignShare.objects.filter(Q(credential=credential) | renewal, destroyed_at__isnull=True))
    destroy(shares)
    return len(shares)


__all__ = [
    "SPLIT",
    "USAGES",
    "archive",
    "archived_public_keys",
    "certify",
    "destroy",
    "destroy_all",
    "encrypt_share_for",
    "is_split",
    "live_public_keys",
    "live_share",
    "new_ref",
    "owner_id",
    "pending_shares",
    "pepper",
    "public_key",
    "server_share",
    "share_with_public_key",
    "split_for_new_credentials",
    "wrap",
]
