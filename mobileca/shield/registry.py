"""The business registry: an enterprise's record by unified social credit code, its answer signed by the registry
and bound to our client id, this lookup's nonce, the time and the enterprise asked about."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from mobileca.shield.providers import get_signed, provider


@dataclass(frozen=True)
class RegistryRecord:
    uscc: str
    name: str
    legal_representative: str
    legal_representative_id: str = field(repr=False)
    legal_representative_phone: str = field(repr=False)
    status: str


def lookup(uscc: str) -> RegistryRecord | None:
    """The registry's record now; None when the registry says (signed) that it has none."""
    registry, nonce = provider("registry"), secrets.token_urlsafe(16)
    data = get_signed(
        registry,
        f"/v1/enterprises/{uscc}",
        header="X-Registry-Signature",
        nonce=nonce,
        about={"uscc": uscc},
        params={"nonce": nonce},
        ok=(200, 404),
    )
    if not data.get("found"):
        return None
    return RegistryRecord(
        uscc=uscc,
        name=str(data["name"]),
        legal_representative=str(data["legal_representative"]),
        legal_representative_id=str(data["legal_representative_id"]),
        legal_representative_phone=str(data["legal_representative_phone"]),
        status=str(data["status"]),
    )
