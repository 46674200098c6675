"""Row locks of the signing service, always taken in one order, so that two writers can never wait for each other
in a circle (PostgreSQL would break such a deadlock by failing one of them: a 500 for a person on the phone).

The order, for every writer of the signing service:

    0. the bank-statement cursor (only the reconciliation job takes it)
    1. the enterprise (``ShieldEnterprise``) — every decision about its members and every claim step for it
    2. claims (``ClaimSession``), several in primary-key order
    3. memberships, several in primary-key order
    4. the credential
    5. what hangs off a claim or a credential: face checks, SMS challenges, corporate transfers, key-use
       authorisations

A writer may skip a level but never goes back up: once it holds a claim it does not lock the enterprise. So a claim
step that may touch the enterprise locks the enterprise first (``lock_claim``), and a member write that moves claims
locks them before the membership. On SQLite the IMMEDIATE transaction mode serialises writers instead.
All helpers must be called inside a transaction."""

from __future__ import annotations

from mobileca.shield.models import (
    ClaimSession,
    Credential,
    KeyUseAuthorization,
    Membership,
    ShieldEnterprise,
)


def lock_enterprise(uscc: str) -> ShieldEnterprise | None:
    """Level 1: the enterprise, or None while it has not been created."""
    return ShieldEnterprise.objects.select_for_update().filter(uscc=uscc).first()


def lock_claim(ticket: str, *, with_enterprise: bool = True) -> ClaimSession | None:
    """Levels 1–2: the enterprise the claim is for (when it exists), then the claim of this QR ticket.

    The enterprise's USCC is fixed when the claim is opened, so it can be read before any lock. A step that never
    touches the enterprise (binding, renewing the ticket) may skip it with ``with_enterprise=False``."""
    uscc = ClaimSession.objects.filter(ticket=ticket).values_list("enterprise_uscc", flat=True).first()
    if uscc is None:
        return None
    if with_enterprise:
        lock_enterprise(uscc)
    return ClaimSession.objects.select_for_update().filter(ticket=ticket).first()


def lock_claims(*, pks: list[int] | None = None, **filters: object) -> list[ClaimSession]:
    """Level 2: several claims, in primary-key order (the caller already holds their enterprise when it needs it)."""
    rows = ClaimSession.objects.select_for_update()
    rows = rows.filter(pk__in=pks) if pks is not None else rows.filter(**filters)
    return list(rows.order_by("pk"))


def lock_memberships(**filters: object) -> list[Membership]:
    """Level 3: memberships, in primary-key order."""
    return list(Membership.objects.select_for_update().filter(**filters).order_by("pk"))


def lock_credential(**filters: object) -> Credential | None:
    """Level 4: one credential."""
    return Credential.objects.select_for_update().filter(**filters).first()


def lock_credential_pk(pk: int) -> Credential:
    """Level 4: the credential with this primary key (it exists: credentials are never deleted)."""
    return Credential.objects.select_for_update().get(pk=pk)


def lock_authorization_pk(pk: int) -> KeyUseAuthorization:
    """Level 5: one key-use authorisation (its credential, when needed, is locked before it)."""
    return KeyUseAuthorization.objects.select_for_update().select_related("credential").get(pk=pk)
