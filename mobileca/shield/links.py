"""Short, signed, expiring links for text messages (issue 18): ``/h5/s/<token>`` leads to one phone page — the
e签盾 home, 成员管理, 我的证书, 操作记录, a pending authorisation or a claim — after the Alipay login when needed.

A token is ``<where>.<issued>.<signature>``: where it leads (a letter, and for an authorisation or a claim its
reference), when it was issued (seconds since the epoch, base 62) and an HMAC-SHA256 of both under the secret key
(salted for this use, cut to 128 bits, base64url). Nothing is stored; a forged or altered token fails the signature,
and a token older than ``MOBILECA_SHORT_LINK_DAYS`` (7 by default) is refused as expired. The token names a page, never
a person or a secret: the page itself still asks for the right phone login."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from django.conf import settings
from django.core.signing import b62_decode, b62_encode
from django.urls import reverse
from django.utils.crypto import salted_hmac

from mobileca.core.clock import now

SALT: Final = "mobileca.shield.links"
DEFAULT_DAYS: Final = 7
SIGNATURE_BYTES: Final = 16  # 128 bits: short, and not to be guessed

HOME, MEMBERS, CREDENTIALS, RECORDS, AUTHORIZATION, CLAIM = "h", "m", "c", "r", "a", "k"
_PAGES: Final = {HOME: "shield:h5_home", MEMBERS: "shield:h5_members", CREDENTIALS: "shield:h5_credentials"}
_PAGES_WITHOUT_ARGUMENT: Final = frozenset({HOME, MEMBERS, CREDENTIALS, RECORDS})
_REFERENCE_CHARACTERS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class LinkRefused(Exception):
    """The token is not one this service made (forged, altered, cut short)."""


class LinkExpired(LinkRefused):
    """The token is genuine but older than the links' lifetime."""


@dataclass(frozen=True)
class Target:
    kind: str
    reference: str = ""


def lifetime() -> timedelta:
    return timedelta(days=getattr(settings, "MOBILECA_SHORT_LINK_DAYS", DEFAULT_DAYS))


def _signature(body: str) -> str:
    digest = salted_hmac(SALT, body, algorithm="sha256").digest()[:SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def link_token(kind: str, reference: str = "") -> str:
    if kind in _PAGES_WITHOUT_ARGUMENT:
        reference = ""
    elif kind not in (AUTHORIZATION, CLAIM) or not reference or not set(reference) <= _REFERENCE_CHARACTERS:
        raise ValueError(f"no short link to {kind!r} {reference!r}")
    body = f"{kind}{reference}.{b62_encode(int(now().timestamp()))}"
    return f"{body}.{_signature(body)}"


def link_url(kind: str, reference: str = "") -> str:
    """The full address for a text message (``MOBILECA_PUBLIC_URL`` + ``/h5/s/<token>``)."""
    return settings.MOBILECA_PUBLIC_URL + reverse("shield:h5_link", args=[link_token(kind, reference)])


def link_read(token: str) -> Target:
    """Where a token leads; ``LinkRefused`` for anything this service did not sign, ``LinkExpired`` when too old."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or len(token) > 200:
        raise LinkRefused(token[:40])
    body = f"{parts[0]}.{parts[1]}"
    if not secrets.compare_digest(_signature(body).encode(), parts[2].encode()):
        raise LinkRefused(token[:40])
    kind, reference = parts[0][0], parts[0][1:]
    try:
        issued = b62_decode(parts[1])
    except ValueError:
        raise LinkRefused(token[:40]) from None
    if now().timestamp() - issued > lifetime().total_seconds():
        raise LinkExpired(token[:40])
    if (kind in _PAGES_WITHOUT_ARGUMENT and not reference) or (kind in (AUTHORIZATION, CLAIM) and reference):
        return Target(kind, reference)
    raise LinkRefused(token[:40])


def destination(target: Target, account: str) -> str:
    """The page a target leads the signed-in ``account`` to: a claim only for its own claimant (otherwise home, so a
    link read by someone else never reveals a claim's ticket)."""
    from mobileca.shield.models import ClaimSession

    if target.kind in _PAGES:
        return reverse(_PAGES[target.kind])
    if target.kind == RECORDS:
        return reverse("shield:h5_records")
    if target.kind == AUTHORIZATION:
        return reverse("shield:h5_authorization", args=[target.reference])
    claim = ClaimSession.objects.filter(pk=int(target.reference) if target.reference.isdigit() else 0).first()
    if claim is not None and account and claim.claimant_account == account:
        return reverse("shield:h5_claim", args=[claim.ticket])
    return reverse("shield:h5_home")
