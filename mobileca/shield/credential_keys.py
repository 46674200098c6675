"""A credential's two key pairs (the dual-certificate model: one signs, one decrypts): made with the credential's
key profile, certified by the CA (at activation, and again at each renewal's re-key), kept only wrapped under the
CA back-end's master key with the credential as associated data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from django.views.decorators.debug import sensitive_variables

from mobileca.ca import facade as ca_facade
from mobileca.core.clock import now
from mobileca.shield import cosign_keys
from mobileca.shield.models import ArchivedEncryptionKey, CosignShare, Credential, PhoneAccount, ShieldEnterprise


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


# --- archived encryption keys (issue 21): the old encryption key outlives a renewal's re-key, the signing key not --


def archived_owner(credential: Credential, serial: str) -> str:
    """The master key's associated data for an archived encryption key: it names the credential and the serial."""
    return f"credential:{credential.service_no}:archived:{serial.lower()}"


@sensitive_variables()
def encryption_key_archive(credential: Credential) -> ArchivedEncryptionKey | None:
    """In the re-key's transaction, before the new keys replace the old: the current encryption key re-wrapped as
    an archived key of its certificate (the signing key is simply replaced). A split credential's (issue 20) live
    encryption share is archived instead, as it is: the phone keeps its old half, filed under the old public key,
    and the service its d2, so the claimant's phone can still open what was sealed for the old certificate."""
    if cosign_keys.is_split(credential):
        share = cosign_keys.live_share(credential, "encrypt")
        if share is None:
            return None
        cosign_keys.archive(share)
        return ArchivedEncryptionKey.objects.create(
            credential=credential,
            serial=credential.encrypt_serial,
            key_wrapped=b"",
            cosign_share=share,
            archived_at=now(),
        )
    if not credential.encrypt_key_wrapped:
        return None
    key = ca_facade.unwrap_private_key(
        owner_id=f"credential:{credential.service_no}:encrypt", blob=bytes(credential.encrypt_key_wrapped)
    )
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ca_facade.Sm2PrivateKey):
        raise TypeError(type(key).__name__)  # no profile of ours makes another kind
    return ArchivedEncryptionKey.objects.create(
        credential=credential,
        serial=credential.encrypt_serial,
        key_wrapped=ca_facade.wrap_private_key(owner_id=archived_owner(credential, credential.encrypt_serial), key=key),
        archived_at=now(),
    )


def archived_keys_live(credential: Credential) -> list[ArchivedEncryptionKey]:
    """The credential's archived encryption keys still usable, newest first."""
    return list(
        ArchivedEncryptionKey.objects.filter(credential=credential, destroyed_at__isnull=True)
        .select_related("cosign_share")
        .order_by("-archived_at")
    )


def archived_key_live(credential: Credential, serial: str) -> ArchivedEncryptionKey | None:
    """The credential's archived encryption key of the certificate ``serial``, if still usable (one row read)."""
    return (
        ArchivedEncryptionKey.objects.filter(credential=credential, serial__iexact=serial, destroyed_at__isnull=True)
        .select_related("cosign_share")
        .first()
    )


@sensitive_variables()
def archived_key_unwrap(archived: ArchivedEncryptionKey) -> PrivateKeyTypes | ca_facade.Sm2PrivateKey:
    """A whole archived key (not a split credential's: its ``cosign_share`` opens through the phone)."""
    if archived.cosign_share_id is not None:
        raise TypeError("a split credential's archived key is a two-party share")
    return ca_facade.unwrap_private_key(
        owner_id=archived_owner(archived.credential, archived.serial), blob=bytes(archived.key_wrapped)
    )


def archived_keys_destroy(credential: Credential) -> list[str]:
    """Erase every archived encryption key of the credential (key compromise; for a split credential also a lost
    phone's re-key, whose old halves are gone): the wrapped keys, or the archived shares' d2 and pepper. The
    serials destroyed."""
    live = archived_keys_live(credential)
    shares = [archived.cosign_share for archived in live if archived.cosign_share is not None]
    cosign_keys.destroy(shares)
    for archived in live:
        archived.key_wrapped, archived.destroyed_at = b"", now()
        archived.save(update_fields=["key_wrapped", "destroyed_at"])
    return [archived.serial for archived in live]
