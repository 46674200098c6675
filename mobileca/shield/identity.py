"""The phone identity (the Alipay account) of whoever scans: an authorisation code, exchanged server to server for
an assertion signed by the identity provider and bound to our client id, our nonce and the time. Base URLs and keys
from settings only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.views.decorators.debug import sensitive_variables

from mobileca.shield.providers import AnswerRefused, SignedAnswer, fetch_signed, provider

ASSERTION_MAX_AGE = timedelta(seconds=300)


class IdentityRefused(AnswerRefused):
    """The provider's answer does not prove who scanned (bad signature, wrong audience or nonce, stale)."""


@dataclass(frozen=True)
class PhoneIdentity:
    account: str
    name: str
    resident_id: str = field(repr=False)
    phone: str = field(repr=False)


def authorize_url(*, state: str, nonce: str) -> str:
    identity = provider("identity")
    callback = identity.conf["callback_url"]
    query = {"client_id": identity.audience, "redirect_uri": callback, "state": state, "nonce": nonce}
    return f"{identity.conf['authorize_url']}?{urlencode(query)}"


@sensitive_variables()
def exchange(*, code: str, nonce: str) -> PhoneIdentity:
    """The code for the person's identity, believed only if signed for us and for this login (``nonce``)."""
    identity = provider("identity")
    claims = fetch_signed(
        identity,
        "POST",
        identity.conf["token_url"],
        wire=SignedAnswer.assertion_in_json,
        nonce=nonce,
        max_age=ASSERTION_MAX_AGE,
        refusal=IdentityRefused,
        data={
            "client_id": identity.audience,
            "client_secret": identity.secret,
            "code": code,
            "redirect_uri": identity.conf["callback_url"],
        },
    )
    return _person(claims)


def _person(claims: dict[str, Any]) -> PhoneIdentity:
    try:
        return PhoneIdentity(
            account=str(claims["sub"]),
            name=str(claims["name"]),
            resident_id=str(claims["resident_id"]),
            phone=str(claims["phone"]),
        )
    except KeyError as exc:
        raise IdentityRefused("identity", "malformed", f"no {exc}") from exc
