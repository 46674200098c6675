"""A credential's two key pairs (the dual-certificate model: one signs, one decrypts): made with the credential's
key profile, certified by the CA (at activation, and again at each renewal's re-key), kept only wrapped under the
CA back-end's master key with the credential as associated data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.views.decorators.debug import sensitive_variables

from mobileca.ca import facade as ca_facade
from mobileca.shield import cosign_keys
from mobileca.shield.models import CosignShare, Credential, PhoneAccount, ShieldEnterprise


@dataclass(frozen=True)
class KeyPairs:
    sign: ca_facade.UserPrivateKey
    encrypt: ca_facade.UserPrivateKey


@dataclass(frozen=True)
class SplitPublicKeys:
    """The public keys of a two-party credential's keys (issue 20): their private halves are on the phone and in
    ``CosignShare``, so nothing is wrapped here."""

    sign: ca_facade.Sm2PublicKey
    encrypt: ca_facade.Sm2PublicKey


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
    keys: KeyPairs | SplitPublicKeys,
    enterprise: ShieldEnterprise,
    person: PhoneAccount,
    not_after: datetime,
    rekey: bool = False,
) -> CertifiedKeys:
    """The CA's certificates for both public keys (a re-key revokes the credential's old ones as superseded), and the
    private keys wrapped for storage (none for split keys: empty)."""
    owner = f"credential:{service_no}"
    issue = ca_facade.credential_rekey if rekey else ca_facade.credential_issue
    issued = issue(
        owner_id=owner,
        subject=ca_facade.Subject(enterprise_name=enterprise.name, uscc=enterprise.uscc, claimant_name=person.name),
        sign_public_key=keys.sign if isinstance(keys, SplitPublicKeys) else keys.sign.public_key(),
        encrypt_public_key=keys.encrypt if isinstance(keys, SplitPublicKeys) else keys.encrypt.public_key(),
        not_after=not_after,
    )
    if isinstance(keys, SplitPublicKeys):
        return CertifiedKeys(b"", b"", sign_serial=issued.sign_serial, encrypt_serial=issued.encrypt_serial)
    return CertifiedKeys(
        sign_key_wrapped=ca_facade.wrap_private_key(owner_id=f"{owner}:sign", key=keys.sign),
        encrypt_key_wrapped=ca_facade.wrap_private_key(owner_id=f"{owner}:encrypt", key=keys.encrypt),
        sign_serial=issued.sign_serial,
        encrypt_serial=issued.encrypt_serial,
    )


def split_public_keys(shares: dict[str, CosignShare]) -> SplitPublicKeys:
    """The public keys of a claim's (or renewal's) two-party shares, sign and encrypt."""
    return SplitPublicKeys(
        sign=cosign_keys.public_key(shares["sign"]), encrypt=cosign_keys.public_key(shares["encrypt"])
    )


@sensitive_variables()
def credential_recertify(
    credential: Credential, keys: KeyPairs | SplitPublicKeys, *, not_after: datetime
) -> CertifiedKeys:
    """A re-key's certificates (a renewal's, or a lost phone's): the new keys certified for the credential's claimant
    and enterprise as they are now, the old certificates revoked as superseded."""
    return key_pairs_certify(
        service_no=credential.service_no,
        keys=keys,
        enterprise=ShieldEnterprise.objects.get(uscc=credential.enterprise_uscc),
        person=PhoneAccount.objects.get(account=credential.account),
        not_after=not_after,
        rekey=True,
    )
