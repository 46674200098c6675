"""Revocation of a credential for key compromise (issue 21): the CA revokes its certificates with the reason
keyCompromise and every archived encryption key of the credential is destroyed, so nothing sealed for it can be
decrypted any more; a split credential's shares (live, pending and archived) are destroyed too."""

from __future__ import annotations

from cryptography import x509
from django.db import transaction

from mobileca.audit.services import Actor, audit_record
from mobileca.ca import facade as ca_facade
from mobileca.shield import cosign_keys
from mobileca.shield.credential_keys import archived_keys_destroy
from mobileca.shield.locks import lock_credential_pk
from mobileca.shield.models import Credential

SERVICE = Actor("system", "shield")


def credential_revoke_key_compromise(credential: Credential, *, actor: Actor = SERVICE) -> list[str]:
    """Revoke the credential's certificates (keyCompromise) and destroy its archived encryption keys, in one
    transaction (a split credential's two-party shares with them). Returns the serials of the archived keys
    destroyed."""
    with transaction.atomic(durable=True):
        credential = lock_credential_pk(credential.pk)
        revoked = ca_facade.credential_revoke(
            owner_id=f"credential:{credential.service_no}", reason=x509.ReasonFlags.key_compromise
        )
        destroyed = archived_keys_destroy(credential)
        shares = cosign_keys.destroy_all(credential)
        credential.revoked_reason = "key_compromise"
        credential.save(update_fields=["revoked_reason"])
        audit_record(
            action="credential.revoked_key_compromise",
            subject=f"credential:{credential.service_no}",
            actor=actor,
            data={"certificates": revoked, "archived_destroyed": destroyed, "shares_destroyed": shares},
        )
    return destroyed
