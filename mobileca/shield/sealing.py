"""How the signing service keeps personal data it must compare or use again: keyed digests (comparable, not
reversible from the tables) and values sealed under the master key of the CA back-end (AES-256-GCM, the owner in
the associated data)."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from mobileca.ca.facade import KeyBackend, key_backend


@sensitive_variables()
def sealer() -> KeyBackend:
    keys = key_backend()
    keys.ensure_master_key()
    return keys


@sensitive_variables()
def resident_id_digest(resident_id: str) -> str:
    """HMAC-SHA256 with the installation's secret: comparable, not reversible from the table."""
    return hmac.new(settings.SECRET_KEY.encode(), resident_id.upper().encode(), hashlib.sha256).hexdigest()


@sensitive_variables()
def keyed_digest(value: str) -> str:
    """The digest of a short secret or identifier (codes, amounts, phone and account numbers)."""
    return hmac.new(settings.SECRET_KEY.encode(), f"otp:{value}".encode(), hashlib.sha256).hexdigest()


@sensitive_variables()
def digest_matches(digest: str, value: str) -> bool:
    return hmac.compare_digest(digest.encode(), keyed_digest(value).encode())


@sensitive_variables()
def seal_phone(account: str, phone: str) -> bytes:
    return sealer().wrap(f"phone-number:{account}", phone.encode())


@sensitive_variables()
def unseal_phone(account: str, sealed: bytes) -> str:
    return sealer().unwrap(f"phone-number:{account}", sealed).decode() if sealed else ""


@sensitive_variables()
def unseal_resident_id(account: str, sealed: bytes) -> str:
    """The resident ID of a phone identity, for the liveness provider only (AAD ``phone:<account>``)."""
    return sealer().unwrap(f"phone:{account}", sealed).decode()
