"""A credential's two key pairs (the dual-certificate model: one signs, one decrypts): made with the credential's
key profile, certified by the CA (at activation, and again at each renewal's re-key), kept only wrapped under the
CA back-end's master key with the credential as associated data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.views.decorators.debug import sensitive_variables

from mobileca.ca import facade as ca_facade
from mobileca.shield.models import PhoneAccount, ShieldEnterprise


@dataclass(frozen=True)
class KeyPairs:
    sign: ca_facade.UserPrivateKey
    encrypt: ca_facade.UserPrivateKey


@dataclass(frozen=True)
class CertifiedKeys:
    sign_key_wrapped: bytes
    encrypt_key_wrapped: bytes
    sign_serial: str
    encrypt_serial: str


@sensitive_variables()
def key_pairs_new(profile: ca_facade.KeyProfile) -> KeyPairs:
    """Two fresh key pairs (CPU only, no I/O: made before any row lock)."""
    return KeyPairs(sign=ca_facade.generate_user_key(profile), encrypt=ca_facade.generate_user_key(profile))


@sensitive_variables()
def key_pairs_certify(
    *,
    service_no: str,
    keys: KeyPairs,
    enterprise: ShieldEnterprise,
    person: PhoneAccount,
    not_after: datetime,
    rekey: bool = False,
) -> CertifiedKeys:
    """The CA's certificates for both public keys (a re-key revokes the credential's old ones as superseded), and the
    private keys wrapped for storage."""
    owner = f"credential:{service_no}"
    issue = ca_facade.credential_rekey if rekey else ca_facade.credential_issue
    issued = issue(
        owner_id=owner,
        subject=ca_facade.Subject(enterprise_name=enterprise.name, uscc=enterprise.uscc, claimant_name=person.name),
        sign_public_key=keys.sign.public_key(),
        encrypt_public_key=keys.encrypt.public_key(),
        not_after=not_after,
    )
    return CertifiedKeys(
        sign_key_wrapped=ca_facade.wrap_private_key(owner_id=f"{owner}:sign", key=keys.sign),
        encrypt_key_wrapped=ca_facade.wrap_private_key(owner_id=f"{owner}:encrypt", key=keys.encrypt),
        sign_serial=issued.sign_serial,
        encrypt_serial=issued.encrypt_serial,
    )
