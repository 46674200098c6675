"""Template filters for a two-party SM2 credential on 我的证书 (issue 20): whether its keys are split, and the
public key of each live share (where the phone page files its half, so a PIN change can seal it again), and of each
encryption share a renewal archived (issue 21: the phone keeps that half for the bids sealed before)."""

from __future__ import annotations

from django import template

from mobileca.shield import cosign_keys
from mobileca.shield.models import Credential

register = template.Library()


@register.filter
def is_split(credential: Credential) -> bool:
    return cosign_keys.is_split(credential)


@register.filter
def cosign_public_keys(credential: Credential) -> dict[str, str]:
    """``{"sign": hex, "encrypt": hex}`` of the live shares of a split credential; empty otherwise."""
    return cosign_keys.live_public_keys(credential) if cosign_keys.is_split(credential) else {}


@register.filter
def cosign_archived_keys(credential: Credential) -> str:
    """The public keys (hex, space-separated) of a split credential's archived encryption shares; "" otherwise."""
    return " ".join(cosign_keys.archived_public_keys(credential)) if cosign_keys.is_split(credential) else ""


@register.filter
def any_split(credentials: list[tuple[Credential, object]]) -> bool:
    """Whether any of the page's ``(credential, certificates)`` rows is split (then the page loads the phone's
    module)."""
    return any(cosign_keys.is_split(credential) for credential, _certificates in credentials)
