"""What the signing service's external providers share: the phone identity (Alipay account login), face liveness,
the business registry, SMS and the bank.

* one HTTP client with explicit timeouts (``http_client``; tests swap it for an in-process transport);
* each provider's configuration read once per settings value (``provider``): base URL, our client id there, the
  shared secret and the provider's public key, as the payment channels' configurations are;
* one door for a request (``call``, ``ensure_status``) and one for a signed answer (``fetch_signed``, or
  ``get_signed`` for a ``GET`` signed in a header; both end in ``verify_signed``).

A signed answer is believed only when every check below holds, in this order; the first that fails raises
``AnswerRefused`` naming it (for the log and the tests; the person is only told to try again):

    signature   RSA PKCS#1 v1.5 / SHA-256 by the provider's key over the exact bytes received
    malformed   the signed bytes carry a JSON object
    audience    ``aud`` is our client id at that provider: an answer for another relying party is not ours
    nonce       ``nonce`` is the one this request sent: not the answer to another login, check or lookup
    stale       ``iat`` within ``max_age`` of the one clock, either way: no replay of an old answer
    subject     the answer is about what was asked (the check, the person, the enterprise)
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from mobileca.core.clock import now
from mobileca.core.errors import FinalGatewayError, RetryableGatewayError

# How the signing service names itself to a provider whose settings carry no ``client_id`` of their own.
SERVICE_CLIENT_ID = "mobileca-shield"
MAX_AGE = timedelta(minutes=5)


class AnswerRefused(FinalGatewayError):
    """A provider's answer we do not believe. ``reason`` is the check it failed (see the module docstring)."""

    def __init__(self, provider: str, reason: str, detail: str = "") -> None:
        self.provider, self.reason = provider, reason
        super().__init__(f"{provider} answer refused ({reason})" + (f": {detail}" if detail else ""))


def http_client() -> httpx.Client:
    """How the signing service reaches every provider. Tests replace it with an in-process transport."""
    return httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))


@dataclass(frozen=True)
class Provider:
    """One provider as configured in ``settings.MOBILECA_<NAME>``, its secret and public key read from disk."""

    name: str
    conf: Mapping[str, str]
    audience: str  # our client id at this provider: the ``aud`` of its signed answers
    secret: str = field(repr=False)
    public_key: rsa.RSAPublicKey | None

    def url(self, path: str) -> str:
        return f"{self.conf['base_url']}{path}"

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


def provider(name: str) -> Provider:
    """The provider ``name`` (identity, liveness, registry, sms, bank), read once per settings value: a test or a
    deployment that rebinds the setting gets the new one, and no request reads keys from disk."""
    conf: dict[str, str] = getattr(settings, f"MOBILECA_{name.upper()}")
    return _load(name, tuple(sorted(conf.items())))


@lru_cache(maxsize=16)
def _load(name: str, items: tuple[tuple[str, str], ...]) -> Provider:
    conf = dict(items)
    public_key = None
    if conf.get("public_key_path"):
        loaded = serialization.load_pem_public_key(Path(conf["public_key_path"]).read_bytes())
        if not isinstance(loaded, rsa.RSAPublicKey):
            raise FinalGatewayError(f"{name}: the provider's public key is not RSA")
        public_key = loaded
    secret_path = conf.get("client_secret_path")
    return Provider(
        name=name,
        conf=conf,
        audience=conf.get("client_id") or SERVICE_CLIENT_ID,
        secret=Path(secret_path).read_text().strip() if secret_path else "",
        public_key=public_key,
    )


@sensitive_variables()
def call(provider: Provider, method: str, url: str, **request: Any) -> httpx.Response:
    """One request; a provider that cannot be reached is worth trying again later."""
    try:
        with http_client() as client:
            return client.request(method, url, **request)
    except httpx.TransportError as exc:
        raise RetryableGatewayError(f"{provider.name} unreachable: {exc!r}") from exc


def ensure_status(provider: Provider, response: httpx.Response, ok: tuple[int, ...] = (200,), what: str = "") -> None:
    """A 5xx is the provider's trouble (retryable); any other unexpected status is its final word."""
    if response.status_code in ok:
        return
    message = f"{provider.name} said {response.status_code}" + (f" {what}" if what else "")
    if response.status_code >= 500:
        raise RetryableGatewayError(message)
    raise FinalGatewayError(message)


# --- signed answers ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedAnswer:
    """An answer as it came over the wire: the exact bytes the provider signed, the signature (base64), and the
    JSON object those bytes carry."""

    message: bytes
    signature: str
    claims: bytes

    @classmethod
    def in_header(cls, header: str) -> Callable[[httpx.Response], SignedAnswer]:
        """The raw body is the JSON object, its signature in ``header`` (the registry, the liveness provider)."""
        return lambda response: cls(response.content, response.headers.get(header, ""), response.content)

    @classmethod
    def assertion(cls, assertion: str, signature: str) -> SignedAnswer:
        """A base64url JSON object, signed as that text (the identity provider's assertion)."""
        try:
            claims = base64.urlsafe_b64decode(assertion + "=" * (-len(assertion) % 4))
        except (binascii.Error, ValueError):
            claims = b""
        return cls(assertion.encode(), signature, claims)

    @classmethod
    def assertion_in_json(cls, response: httpx.Response) -> SignedAnswer:
        """``{"assertion": …, "signature": …}`` (the identity provider's token endpoint)."""
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        return cls.assertion(str(body.get("assertion", "")), str(body.get("signature", "")))


@sensitive_variables()
def fetch_signed(
    provider: Provider,
    method: str,
    url: str,
    *,
    wire: Callable[[httpx.Response], SignedAnswer],
    nonce: str,
    about: Mapping[str, str] | None = None,
    ok: tuple[int, ...] = (200,),
    max_age: timedelta = MAX_AGE,
    refusal: type[AnswerRefused] = AnswerRefused,
    **request: Any,
) -> dict[str, Any]:
    """Ask, then believe the answer only if it verifies (see the module docstring); returns its claims."""
    response = call(provider, method, url, **request)
    ensure_status(provider, response, ok)
    return verify_signed(provider, wire(response), nonce=nonce, about=about, max_age=max_age, refusal=refusal)


@sensitive_variables()
def get_signed(
    provider: Provider,
    path: str,
    *,
    header: str,
    nonce: str,
    about: Mapping[str, str],
    params: Mapping[str, str] | None = None,
    **request: Any,
) -> dict[str, Any]:
    """``GET`` an answer addressed to us (``client_id``), its JSON body signed in ``header``; returns its claims."""
    return fetch_signed(
        provider,
        "GET",
        provider.url(path),
        wire=SignedAnswer.in_header(header),
        nonce=nonce,
        about=about,
        params={"client_id": provider.audience, **(params or {})},
        **request,
    )


def verify_signed(
    provider: Provider,
    answer: SignedAnswer,
    *,
    nonce: str,
    about: Mapping[str, str] | None = None,
    max_age: timedelta = MAX_AGE,
    refusal: type[AnswerRefused] = AnswerRefused,
) -> dict[str, Any]:
    if provider.public_key is None:
        raise FinalGatewayError(f"{provider.name}: no public key configured to verify its answers")
    try:
        signature = base64.b64decode(answer.signature, validate=True)
        provider.public_key.verify(signature, answer.message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise refusal(provider.name, "signature") from exc
    try:
        claims = json.loads(answer.claims)
    except ValueError:
        claims = None
    if not isinstance(claims, dict):
        raise refusal(provider.name, "malformed")
    if claims.get("aud") != provider.audience:
        raise refusal(provider.name, "audience", f"for {claims.get('aud')!r}")
    answered = claims.get("nonce")
    if not (nonce and isinstance(answered, str) and hmac.compare_digest(answered.encode(), nonce.encode())):
        raise refusal(provider.name, "nonce")
    issued = claims.get("iat")
    if type(issued) is not int or abs(now().timestamp() - issued) > max_age.total_seconds():
        raise refusal(provider.name, "stale", f"issued at {issued!r}")
    for key, expected in (about or {}).items():
        if claims.get(key) != expected:
            raise refusal(provider.name, "subject", f"{key} is not the one asked about")
    return claims
