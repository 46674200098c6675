"""OAuth 2.0 as CSC API v2 §8.4 profiles it (issue 17): the grants behind ``/csc/v2/oauth2/`` (``oauth_api.py``)
and the claimant's approval on the phone (``views/oauth.py``).

* Platforms (``ApiClient``): ``client_credentials`` (RFC 6749 §4.4), authenticated by HTTP Basic or by
  ``client_id``/``client_secret`` in the form (§2.3.1), for a one-hour access token of scope ``service``.
* The claimant's applications (``OAuthApp``): the authorisation code with PKCE S256 (RFC 7636; ``plain`` refused),
  exact redirect URIs (a loopback one with any port, RFC 8252 §7.3), public clients only with PKCE (always). The
  claimant proves who they are on the phone and allows; for scope ``credential`` the phone shows the digests and
  takes the PIN, and that approval *is* the SCAL2 authorisation (``keyuse.authorize`` with the PIN), whose SAD is
  the access token handed out at the code exchange.
* ``refresh_token`` for scope ``service``: rotated on every use; a reused one revokes its family (the grant).
* Revocation (RFC 7009).

Nothing secret is stored in clear: tokens, refresh tokens and codes are SHA-256 digests; the code is sealed to an
X25519 key whose private half only the browser that asked holds (a signed cookie), so only that browser can take it
to the redirect URI; the SAD is sealed under a key derived from the code. Every issue, refusal, revocation and
approval is an audit event; approvals are operation records of the claimant too."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes as crypto_hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.db import transaction
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from mobileca.audit.services import Actor, audit_record
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, Conflict, InvalidInput, NotFound
from mobileca.core.states import ensure_transition
from mobileca.shield import keyuse
from mobileca.shield.callers import Caller, credential_for, digest
from mobileca.shield.models import (
    AccessToken,
    ApiClient,
    KeyUseAuthorization,
    KeyUseStatus,
    OAuthApp,
    OAuthGrant,
    OAuthGrantStatus,
    OAuthToken,
)
from mobileca.shield.records import record_operation
from mobileca.shield.transitions import authorization_move

OAUTH = Actor("system", "oauth")
SHA256_OID = "2.16.840.1.101.3.4.2.1"
REQUEST_LIFETIME = timedelta(minutes=10)  # the claimant answers on the phone within this
CODE_LIFETIME = timedelta(minutes=2)  # RFC 6749 §4.1.2: short-lived (the browser takes it at once)
ACCESS_LIFETIME = timedelta(hours=1)  # CSC's default
REFRESH_LIFETIME = timedelta(days=14)
SCOPES = ("service", "credential")
LOOPBACK_HOSTS = ("127.0.0.1", "[::1]")
_PKCE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636 §4.1 code_verifier
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # BASE64URL(SHA256(verifier)), no padding


class OAuthError(ApplicationError):
    """An OAuth error (RFC 6749 §4.1.2.1, §5.2): ``code`` is the ``error`` value. ``basic`` marks a failed HTTP
    Basic client authentication, answered 401 with ``WWW-Authenticate: Basic`` (§5.2)."""

    status = 400

    def __init__(self, code: str, description: str, *, status: int = 400, basic: bool = False) -> None:
        super().__init__(description, code=code)
        self.status = status  # type: ignore[misc]
        self.basic = basic


# --- sealing: the code to the browser, the SAD under the code ---------------------------------------------------


def _hkdf(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=crypto_hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def browser_keypair() -> tuple[bytes, bytes]:
    """A fresh X25519 key pair for the browser that asks: (private, public), raw 32 bytes each."""
    private = X25519PrivateKey.generate()
    raw = serialization.Encoding.Raw
    return (
        private.private_bytes(raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()),
        private.public_key().public_bytes(raw, serialization.PublicFormat.Raw),
    )


@sensitive_variables()
def _seal_to(public: bytes, plaintext: bytes, context: bytes) -> bytes:
    ephemeral = X25519PrivateKey.generate()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(public))
    ephemeral_public = ephemeral.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    nonce = secrets.token_bytes(12)
    key = _hkdf(shared, b"mobileca oauth code|" + ephemeral_public + public)
    return ephemeral_public + nonce + AESGCM(key).encrypt(nonce, plaintext, context)


@sensitive_variables()
def _open_with(private: bytes, sealed: bytes, context: bytes) -> bytes:
    key_pair = X25519PrivateKey.from_private_bytes(private)
    public = key_pair.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ephemeral_public, nonce, box = sealed[:32], sealed[32:44], sealed[44:]
    shared = key_pair.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
    key = _hkdf(shared, b"mobileca oauth code|" + ephemeral_public + public)
    return AESGCM(key).decrypt(nonce, box, context)


@sensitive_variables()
def _seal_sad(code: str, sad: str, context: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(_hkdf(code.encode(), b"mobileca oauth sad")).encrypt(nonce, sad.encode(), context)


@sensitive_variables()
def _open_sad(code: str, sealed: bytes, context: bytes) -> str:
    return AESGCM(_hkdf(code.encode(), b"mobileca oauth sad")).decrypt(sealed[:12], sealed[12:], context).decode()


# --- clients ----------------------------------------------------------------------------------------------------


def _redirect_ok(uri: str) -> bool:
    """https, a loopback http address (RFC 8252 §7.3) or a private-use scheme (reverse domain, §7.1); no fragment."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    if parts.fragment or not parts.scheme or len(uri) > 500:
        return False
    if parts.scheme == "https":
        return bool(parts.netloc)
    if parts.scheme == "http":
        return parts.netloc.rsplit(":", 1)[0] in LOOPBACK_HOSTS or parts.netloc in LOOPBACK_HOSTS
    return "." in parts.scheme


@sensitive_variables()
def app_create(*, name: str, redirect_uris: list[str], public: bool = False) -> tuple[OAuthApp, str]:
    """A claimant-facing application's registration; its secret (none for a public client) is shown once."""
    if not redirect_uris or not all(_redirect_ok(uri) for uri in redirect_uris):
        raise InvalidInput(
            "redirect URIs must be https, http://127.0.0.1 or http://[::1] (any port), or a private-use scheme",
            code="invalid_request",
        )
    secret = "" if public else "mcs_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        app = OAuthApp.objects.create(
            client_id="app_" + secrets.token_hex(6),
            name=name.strip()[:60] or "app",
            secret_digest=digest(secret) if secret else "",
            redirect_uris=list(redirect_uris),
            created_at=now(),
        )
        audit_record(
            action="oauth_app.created",
            subject=f"oauth_client:{app.client_id}",
            actor=OAUTH,
            data={"name": app.name, "public": public, "redirect_uris": app.redirect_uris},
        )
    return app, secret


def redirect_uri_for(app: OAuthApp, given: str | None) -> str | None:
    """The redirect URI to use: the one given if it is registered (exactly; a loopback one with any port), or the
    only registered one when none is given. None: no valid redirect URI is known."""
    registered: list[str] = list(app.redirect_uris)
    if given is None:
        single = [uri for uri in registered if not _is_loopback(uri)]
        return single[0] if len(registered) == 1 and single else None
    if given in registered:
        return given
    try:
        asked = urlsplit(given)
        if asked.scheme != "http" or asked.hostname is None or asked.fragment:
            return None
        port = asked.port  # ValueError for a port out of range
    except ValueError:
        return None
    host = f"[{asked.hostname}]" if ":" in asked.hostname else asked.hostname
    if host not in LOOPBACK_HOSTS or port is None:
        return None
    for uri in registered:
        have = urlsplit(uri)
        if (have.scheme, have.netloc, have.path, have.query) == ("http", host, asked.path, asked.query):
            return given
    return None


def _is_loopback(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http"


@dataclass(frozen=True)
class ClientAuth:
    """How the client said who it is at the token or revocation endpoint."""

    client_id: str
    secret: str | None = None
    basic: bool = False


@sensitive_variables()
def read_client_auth(authorization: str, params: dict[str, str]) -> ClientAuth | None:
    """HTTP Basic (``client_id:client_secret``, each form-urlencoded, RFC 6749 §2.3.1) or the form parameters;
    never both (§2.3). None: the request names no client."""
    form_id, form_secret = params.get("client_id"), params.get("client_secret")
    if authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            raw_id, raw_secret = decoded.split(":", 1)
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_client", "malformed Basic authorization", status=401, basic=True) from None
        client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        if form_secret is not None or (form_id is not None and form_id != client_id):
            raise OAuthError("invalid_request", "use one client authentication method, not two")
        return ClientAuth(client_id, secret, basic=True)
    if form_id is None:
        if form_secret is not None:
            raise OAuthError("invalid_request", "Missing parameter client_id")
        return None
    return ClientAuth(form_id, form_secret)


@dataclass(frozen=True)
class Client:
    """An authenticated client: a platform (``ApiClient``) or a claimant's application (``OAuthApp``)."""

    client_id: str
    platform: ApiClient | None = None
    app: OAuthApp | None = None

    @property
    def name(self) -> str:
        return self.app.name if self.app else self.platform.platform if self.platform else ""


@sensitive_variables()
def authenticate(auth: ClientAuth | None) -> Client:
    """The client, if its credentials are right: a platform always has a secret; an application has one unless it
    is public (then a secret must not be sent). Wrong or unknown: ``invalid_client``, 401 after Basic."""

    def refuse(description: str) -> OAuthError:
        return OAuthError("invalid_client", description, status=401 if auth and auth.basic else 400, basic=bool(auth))

    if auth is None:
        raise OAuthError("invalid_request", "Missing parameter client_id")
    if len(auth.client_id) > 40 or (auth.secret is not None and len(auth.secret) > 200):
        raise refuse("Invalid parameter client_id")
    if auth.client_id.startswith("pl_"):
        platform = ApiClient.objects.filter(client_id=auth.client_id, active=True).first()
        if platform is None:
            raise refuse("Invalid parameter client_id")
        if auth.secret is None:
            raise refuse("Client authorization required")
        if not hmac.compare_digest(platform.key_digest, digest(auth.secret)):
            raise refuse("Invalid parameter client_secret")
        return Client(platform.client_id, platform=platform)
    app = OAuthApp.objects.filter(client_id=auth.client_id, active=True).first()
    if app is None:
        raise refuse("Invalid parameter client_id")
    if app.secret_digest:
        if auth.secret is None:
            raise refuse("Client authorization required")
        if not hmac.compare_digest(app.secret_digest, digest(auth.secret)):
            raise refuse("Invalid parameter client_secret")
    elif auth.secret:
        raise refuse("a public client has no secret")
    return Client(app.client_id, app=app)


# --- tokens -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    """What the token endpoint answers."""

    access_token: str
    expires_in: int
    scope: str
    refresh_token: str = ""
    credential_id: str = ""
    authorization_details: Any = None

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        if self.refresh_token:
            body["refresh_token"] = self.refresh_token
        if self.credential_id:
            body["credentialID"] = self.credential_id
        if self.authorization_details is not None:
            body["authorization_details"] = self.authorization_details
        return body


@sensitive_variables()
def _new_token(kind: str, lifetime: timedelta, **fields: Any) -> tuple[str, OAuthToken]:
    value = ("mco_" if kind == "access" else "mcr_") + secrets.token_urlsafe(32)
    moment = now()
    row = OAuthToken.objects.create(
        token_digest=digest(value), kind=kind, created_at=moment, expires_at=moment + lifetime, **fields
    )
    return value, row


def _audit(action: str, client_id: str, **data: Any) -> None:
    audit_record(action=f"oauth.{action}", subject=f"oauth_client:{client_id[:40] or '-'}", actor=OAUTH, data=data)


def audit_refusal(*, grant_type: str, client_id: str, error: str, address: str | None) -> None:
    """A refused token request naming a registered client is an audit event (in its own transaction: the refusal
    changed nothing else). Requests naming no registered client are not: anyone could send them, and each would be
    an entry of the public transparency log; they are only counted per address (``oauth2_token``)."""
    known = ApiClient.objects.filter(client_id=client_id[:40]).exists() or (
        OAuthApp.objects.filter(client_id=client_id[:40]).exists()
    )
    if not known:
        return
    with transaction.atomic():
        _audit("token_refused", client_id, grant_type=grant_type[:60], error=error, address=address)


def _scope_of(params: dict[str, str]) -> str:
    scope = params.get("scope", "service") or "service"
    if scope != "service":
        raise OAuthError("invalid_scope", "only scope service is granted here")
    return scope


@sensitive_variables()
def client_credentials(client: Client, params: dict[str, str]) -> Issued:
    """RFC 6749 §4.4: a platform's access token (no refresh token, §4.4.3)."""
    if client.platform is None:
        raise OAuthError("unauthorized_client", "only a platform may use the client credentials grant")
    scope = _scope_of(params)
    with transaction.atomic():
        token, _row = _new_token(
            "access", ACCESS_LIFETIME, scope=scope, client_id=client.client_id, platform=client.platform.platform
        )
        _audit("token_issued", client.client_id, grant_type="client_credentials", scope=scope)
    return Issued(token, int(ACCESS_LIFETIME.total_seconds()), scope)


def _revoke_grant_tokens(grant: OAuthGrant, reason: str) -> int:
    """Everything issued from one grant (its family): tokens revoked, a credential approval's SAD expired."""
    moment = now()
    revoked = OAuthToken.objects.filter(grant=grant, revoked_at__isnull=True).update(revoked_at=moment)
    if grant.key_use_id is not None:
        authorization = KeyUseAuthorization.objects.select_for_update().get(pk=grant.key_use_id)
        if authorization.status == KeyUseStatus.AUTHORIZED:
            authorization_move(authorization, KeyUseStatus.EXPIRED)
    if grant.status == OAuthGrantStatus.EXCHANGED:
        grant_move(grant, OAuthGrantStatus.REVOKED)
    _audit("tokens_revoked", grant.app.client_id, grant=grant.ref, reason=reason, tokens=revoked)
    return revoked


@sensitive_variables()
def authorization_code(client: Client, params: dict[str, str]) -> Issued:
    """RFC 6749 §4.1.3 with RFC 7636 §4.6: the code, once, by the client it was issued to, with the same redirect
    URI and the verifier of its challenge. A code used twice is refused and what it issued revoked (§4.1.2)."""
    if client.app is None:
        raise OAuthError("unauthorized_client", "a platform uses the client credentials grant")
    code = params.get("code")
    if not code:
        raise OAuthError("invalid_request", "Missing parameter code")
    verifier = params.get("code_verifier")
    if not verifier:
        raise OAuthError("invalid_request", "Missing parameter code_verifier")
    refusal: OAuthError | None = None
    with transaction.atomic(durable=True):
        grant = (
            OAuthGrant.objects.select_for_update().select_related("app").filter(code_digest=digest(code[:200])).first()
        )
        if grant is None:
            raise OAuthError("invalid_grant", "Invalid parameter code")
        moment = now()
        if grant.status in (OAuthGrantStatus.EXCHANGED, OAuthGrantStatus.REVOKED):
            _revoke_grant_tokens(grant, "code_reused")
            refusal = OAuthError("invalid_grant", "Authorization code is invalid or expired")
        elif grant.app_id != client.app.pk:
            raise OAuthError("invalid_grant", "Invalid parameter code")
        elif grant.code_expires_at is None or moment >= grant.code_expires_at:
            raise OAuthError("invalid_grant", "Authorization code is invalid or expired")
        else:
            redirect_uri = params.get("redirect_uri")
            if (grant.redirect_uri_given or redirect_uri is not None) and redirect_uri != grant.redirect_uri:
                raise OAuthError("invalid_grant", "redirect_uri parameter does not match")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if not _PKCE.match(verifier) or not hmac.compare_digest(challenge, grant.code_challenge):
                raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
            return _exchange(grant, code, moment)
    assert refusal is not None
    raise refusal


@sensitive_variables()
def _exchange(grant: OAuthGrant, code: str, moment: datetime) -> Issued:
    fields = {"client_id": grant.app.client_id, "account": grant.account, "grant": grant}
    grant.exchanged_at = moment
    if grant.scope == "credential":
        assert grant.key_use_id is not None
        authorization = KeyUseAuthorization.objects.select_for_update().get(pk=grant.key_use_id)
        if authorization.status != KeyUseStatus.AUTHORIZED or authorization.expires_at is None:
            raise OAuthError("invalid_grant", "the authorisation has been used or has expired")
        remaining = int((authorization.expires_at - moment).total_seconds())
        if remaining <= 0:
            raise OAuthError("invalid_grant", "the authorisation has expired")
        assert grant.sad_sealed is not None
        sad = _open_sad(code, bytes(grant.sad_sealed), grant.ref.encode())
        OAuthToken.objects.create(
            token_digest=digest(sad),
            kind="access",
            scope="credential",
            credential_id=grant.credential_id,
            created_at=moment,
            expires_at=authorization.expires_at,
            **fields,
        )
        grant.sad_sealed = None
        grant_move(grant, OAuthGrantStatus.EXCHANGED, also=["exchanged_at", "sad_sealed"])
        _audit(
            "token_issued", grant.app.client_id, grant_type="authorization_code", scope="credential", grant=grant.ref
        )
        return Issued(
            sad,
            remaining,
            "credential",
            credential_id=grant.credential_id,
            authorization_details=_details_with_credential(grant),
        )
    access, _row = _new_token("access", ACCESS_LIFETIME, scope="service", **fields)
    refresh, _row = _new_token("refresh", REFRESH_LIFETIME, scope="service", **fields)
    grant_move(grant, OAuthGrantStatus.EXCHANGED, also=["exchanged_at"])
    _audit("token_issued", grant.app.client_id, grant_type="authorization_code", scope="service", grant=grant.ref)
    return Issued(access, int(ACCESS_LIFETIME.total_seconds()), "service", refresh_token=refresh)


def _details_with_credential(grant: OAuthGrant) -> Any:
    if grant.authorization_details is None:
        return None
    return [{**detail, "credentialID": grant.credential_id} for detail in grant.authorization_details]


@sensitive_variables()
def refresh(client: Client, params: dict[str, str]) -> Issued:
    """RFC 6749 §6, rotated (OAuth 2.0 Security BCP §4.14): the refresh token is replaced on every use; one used
    again is refused and its family — every token of its grant — revoked."""
    if client.app is None:
        raise OAuthError("unauthorized_client", "a platform uses the client credentials grant")
    value = params.get("refresh_token")
    if not value:
        raise OAuthError("invalid_request", "Missing parameter refresh_token")
    _scope_of(params)
    refusal: OAuthError | None = None
    with transaction.atomic(durable=True):
        found = OAuthToken.objects.filter(token_digest=digest(value[:200]), kind="refresh").first()
        if found is None or found.client_id != client.client_id or found.grant_id is None:
            raise OAuthError("invalid_grant", "Invalid parameter refresh_token")
        grant = OAuthGrant.objects.select_for_update().select_related("app").get(pk=found.grant_id)  # the family
        token = OAuthToken.objects.select_for_update().get(pk=found.pk)
        moment = now()
        if token.revoked_at is not None:
            raise OAuthError("invalid_grant", "Invalid parameter refresh_token")
        if token.rotated_at is not None:
            _revoke_grant_tokens(grant, "refresh_token_reused")
            refusal = OAuthError("invalid_grant", "Invalid parameter refresh_token")
        elif moment >= token.expires_at:
            raise OAuthError("invalid_grant", "Refresh token expired")
        else:
            token.rotated_at = moment
            token.save(update_fields=["rotated_at"])
            fields = {"client_id": client.client_id, "account": token.account, "grant": grant, "scope": "service"}
            access, _row = _new_token("access", ACCESS_LIFETIME, **fields)
            new_refresh, _row = _new_token("refresh", REFRESH_LIFETIME, **fields)
            _audit("token_issued", client.client_id, grant_type="refresh_token", scope="service", grant=grant.ref)
            return Issued(access, int(ACCESS_LIFETIME.total_seconds()), "service", refresh_token=new_refresh)
    assert refusal is not None
    raise refusal


@sensitive_variables()
def revoke(*, token: str, client: Client | None) -> None:
    """RFC 7009: revoke a token the requesting client holds (a refresh token takes its family with it; an access
    token of scope credential its SAD). Unknown tokens, and tokens of another client, change nothing. A device-login
    token of the command-line tool (no client) is revoked by whoever presents it."""
    value = token[:200]
    with transaction.atomic(durable=True):
        moment = now()
        if value.startswith("mcu_"):
            tool = AccessToken.objects.select_for_update().filter(token_digest=digest(value)).first()
            if tool is not None and tool.revoked_at is None:
                tool.revoked_at = moment
                tool.save(update_fields=["revoked_at"])
                audit_record(
                    action="access_token.revoked", subject=f"phone:{tool.account}", actor=Actor("phone", tool.account)
                )
            return
        found = OAuthToken.objects.filter(token_digest=digest(value)).first()
        if found is None or client is None or found.client_id != client.client_id:
            return
        grant = None
        if found.grant_id is not None:  # the family first (the lock order of the token endpoint)
            grant = OAuthGrant.objects.select_for_update().select_related("app").get(pk=found.grant_id)
        row = OAuthToken.objects.select_for_update().get(pk=found.pk)
        if row.kind == "refresh" and grant is not None:
            _revoke_grant_tokens(grant, "refresh_token_revoked")
            return
        if row.revoked_at is None:
            row.revoked_at = moment
            row.save(update_fields=["revoked_at"])
        if row.scope == "credential" and grant is not None and grant.key_use_id is not None:
            authorization = KeyUseAuthorization.objects.select_for_update().get(pk=grant.key_use_id)
            if authorization.status == KeyUseStatus.AUTHORIZED:
                authorization_move(authorization, KeyUseStatus.EXPIRED)
        _audit("token_revoked", row.client_id, kind=row.kind, scope=row.scope)


@sensitive_variables()
def caller_for_token(value: str) -> Caller | None:
    """The caller an OAuth access token stands for: a platform, a claimant's application (scope service), or one
    approval (scope credential: the token is the SAD, for that credential only, while the approval stands)."""
    token = OAuthToken.objects.filter(token_digest=digest(value), kind="access").first()
    if token is None or token.revoked_at is not None or now() >= token.expires_at:
        return None
    if token.platform:
        if not ApiClient.objects.filter(client_id=token.client_id, active=True).exists():
            return None
        return Caller("client", token.client_id, token.platform)
    if not OAuthApp.objects.filter(client_id=token.client_id, active=True).exists():
        return None  # the application was switched off: its tokens with it
    if token.scope == "credential":
        key_use = KeyUseAuthorization.objects.filter(sad_digest=token.token_digest).values_list("status", flat=True)
        if list(key_use) != [KeyUseStatus.AUTHORIZED]:
            return None
        return Caller("token", token.account, sad=value, credential=token.credential_id)
    return Caller("token", token.account)


# --- the authorisation request and the phone's decision -------------------------------------------------------

OAUTH_GRANT_TRANSITIONS: dict[str, frozenset[str]] = {
    OAuthGrantStatus.PENDING: frozenset({OAuthGrantStatus.ALLOWED, OAuthGrantStatus.DENIED}),
    OAuthGrantStatus.ALLOWED: frozenset({OAuthGrantStatus.EXCHANGED}),
    OAuthGrantStatus.DENIED: frozenset(),
    OAuthGrantStatus.EXCHANGED: frozenset({OAuthGrantStatus.REVOKED}),
    OAuthGrantStatus.REVOKED: frozenset(),
}


@sensitive_variables()
def caller_for_bearer(token: str) -> Caller | None:
    """The caller a bearer token stands for: an OAuth access token (a platform's, a claimant's application's, or one
    approval's of scope credential) or the command-line tool's live access token. A platform's client secret is
    not a bearer token: it only authenticates the platform at the token endpoint."""
    if token.startswith(("mco_", "sad_")):
        return caller_for_token(token)
    if token.startswith("mcu_"):  # the command-line tool's device login (callers.py)
        access = AccessToken.objects.filter(
            token_digest=digest(token), revoked_at__isnull=True, expires_at__gt=now()
        ).first()
        return Caller("token", access.account) if access else None
    return None


def grant_move(grant: OAuthGrant, target: str, *, also: list[str] | None = None) -> None:
    """The one writer of ``OAuthGrant.status`` (the row locked by the caller)."""
    ensure_transition(OAUTH_GRANT_TRANSITIONS, grant.status, target)
    grant.status = target
    grant.save(update_fields=["status", *(also or [])])


@dataclass(frozen=True)
class Request:
    """A checked authorisation request (``oauth2/authorize``)."""

    app: OAuthApp
    redirect_uri: str
    redirect_uri_given: bool
    state: str
    scope: str
    code_challenge: str
    credential_id: str = ""
    hashes: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    description: str = ""
    authorization_details: Any = None


class RedirectableError(OAuthError):
    """An error of a request whose client and redirect URI are known: it goes back to the redirect URI."""

    def __init__(self, code: str, description: str, *, redirect_uri: str, state: str) -> None:
        super().__init__(code, description)
        self.redirect_uri = redirect_uri
        self.state = state


def _hash_b64(value: str) -> str:
    """A SHA-256 digest given in base64 or base64url (padding optional), as keyuse keeps it (standard base64)."""
    text = value.strip()
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("hashes must be base64 or base64url SHA-256 values", code="invalid_request") from None
    if len(raw) != 32:
        raise InvalidInput("hashes must be SHA-256 values (32 bytes)", code="invalid_request")
    return base64.b64encode(raw).decode()


def check_request(params: dict[str, str]) -> Request:
    """``oauth2/authorize``'s parameters (CSC §8.4.2, RFC 6749 §4.1.1, RFC 7636 §4.3). Without a known client and a
    registered redirect URI the error is an ``OAuthError`` (shown, never redirected); after, a
    ``RedirectableError`` (sent back to the redirect URI with the state)."""
    client_id = params.get("client_id")
    if not client_id:
        raise OAuthError("invalid_request", "Missing parameter client_id")
    app = OAuthApp.objects.filter(client_id=client_id[:40], active=True).first()
    if app is None:
        raise OAuthError("invalid_request", "Invalid parameter client_id")
    given = params.get("redirect_uri")
    redirect_uri = redirect_uri_for(app, given)
    if redirect_uri is None:
        raise OAuthError("invalid_request", "redirect_uri is missing or not registered for this client")
    state = params.get("state", "")

    def refuse(code: str, description: str) -> RedirectableError:
        return RedirectableError(code, description, redirect_uri=redirect_uri, state=state)

    if len(state) > 500:
        raise refuse("invalid_request", "state is longer than 500 characters")
    if "request_uri" in params:
        raise refuse("invalid_request", "pushed authorization requests (request_uri) are not offered")
    response_type = params.get("response_type")
    if response_type != "code":
        raise refuse(
            "invalid_request" if response_type is None else "unsupported_response_type", "response_type must be code"
        )
    details_text = params.get("authorization_details")
    scope = params.get("scope") or ("credential" if details_text else "service")
    if scope not in SCOPES or (details_text and scope != "credential"):
        raise refuse("invalid_scope", "scope must be service or credential")
    challenge = params.get("code_challenge")
    if not challenge:
        raise refuse("invalid_request", "Missing parameter code_challenge (PKCE is required)")
    if params.get("code_challenge_method") != "S256":
        raise refuse("invalid_request", "code_challenge_method must be S256 (plain is not accepted)")
    if not _CHALLENGE.match(challenge):
        raise refuse("invalid_request", "code_challenge must be BASE64URL(SHA256(code_verifier))")
    request = Request(app, redirect_uri, given is not None, state, scope, challenge)
    if scope == "service":
        return request
    try:
        if details_text:
            return _with_details(request, details_text)
        return _with_credential_params(request, params)
    except InvalidInput as exc:
        raise refuse("invalid_request", exc.message) from None


def _with_credential_params(request: Request, params: dict[str, str]) -> Request:
    credential_id = params.get("credentialID", "")
    if not credential_id or len(credential_id) > 40:
        raise InvalidInput("credentialID is required with scope credential (signatureQualifier is not offered)")
    if params.get("hashAlgorithmOID", SHA256_OID) != SHA256_OID:
        raise InvalidInput("hashAlgorithmOID must be SHA-256 (2.16.840.1.101.3.4.2.1)")
    values = [value for value in params.get("hashes", "").split(",") if value.strip()]
    if not values or len(values) > keyuse.MAX_HASHES:
        raise InvalidInput("hashes are required with scope credential")
    hashes = tuple(_hash_b64(value) for value in values)
    try:
        count = int(params.get("numSignatures", ""))
    except ValueError:
        raise InvalidInput("numSignatures must be a number") from None
    if count != len(hashes):
        raise InvalidInput("numSignatures must equal the number of hashes")
    description = params.get("description", "")
    if len(description) > 500:
        raise InvalidInput("description is longer than 500 characters")
    return replace(
        request, credential_id=credential_id, hashes=hashes, labels=("",) * len(hashes), description=description
    )


def _with_details(request: Request, text: str) -> Request:
    """RAR (``authorization_details``) of type ``credential``: one entry, its credential, digests and labels."""
    try:
        details = json.loads(text)
    except ValueError:
        raise InvalidInput("authorization_details must be JSON") from None
    if not isinstance(details, list) or len(details) != 1 or not isinstance(details[0], dict):
        raise InvalidInput("authorization_details must hold one entry of type credential")
    detail = details[0]
    if detail.get("type") != "credential":
        raise InvalidInput("authorization_details: only type credential is offered")
    credential_id = detail.get("credentialID")
    if not isinstance(credential_id, str) or not credential_id or len(credential_id) > 40:
        raise InvalidInput("authorization_details: credentialID is required (signatureQualifier is not offered)")
    if detail.get("hashAlgorithmOID") != SHA256_OID:
        raise InvalidInput("authorization_details: hashAlgorithmOID must be SHA-256 (2.16.840.1.101.3.4.2.1)")
    digests = detail.get("documentDigests")
    if not isinstance(digests, list) or not digests or len(digests) > keyuse.MAX_HASHES:
        raise InvalidInput("authorization_details: documentDigests are required")
    hashes, labels = [], []
    for item in digests:
        if not isinstance(item, dict) or not isinstance(item.get("hash"), str):
            raise InvalidInput("authorization_details: each document digest needs a hash")
        label = item.get("label", "")
        if not isinstance(label, str) or len(label) > 200:
            raise InvalidInput("authorization_details: a label must be text of at most 200 characters")
        hashes.append(_hash_b64(item["hash"]))
        labels.append(label)
    echoed = [{"type": "credential", **{k: v for k, v in detail.items() if k != "type"}}]
    return replace(
        request,
        credential_id=credential_id,
        hashes=tuple(hashes),
        labels=tuple(labels),
        authorization_details=json.loads(json.dumps(echoed)),
    )


def grant_open(request: Request, *, browser_public: bytes) -> OAuthGrant:
    """The request, waiting for the claimant on the phone."""
    moment = now()
    with transaction.atomic():
        grant = OAuthGrant.objects.create(
            ref=secrets.token_urlsafe(18),
            app=request.app,
            redirect_uri=request.redirect_uri,
            redirect_uri_given=request.redirect_uri_given,
            scope=request.scope,
            state=request.state,
            code_challenge=request.code_challenge,
            credential_id=request.credential_id,
            hashes=list(request.hashes),
            labels=list(request.labels),
            description=request.description,
            authorization_details=request.authorization_details,
            browser_key=browser_public,
            created_at=moment,
            expires_at=moment + REQUEST_LIFETIME,
        )
        _audit("authorization_requested", request.app.client_id, grant=grant.ref, scope=request.scope)
    return grant


def grant_by_ref(ref: str) -> OAuthGrant:
    grant = OAuthGrant.objects.select_related("app").filter(ref=ref[:40]).first()
    if grant is None:
        raise NotFound(_("未找到该授权请求"), code="authorization_unknown")
    return grant


def grant_waiting(grant: OAuthGrant) -> bool:
    return grant.status == OAuthGrantStatus.PENDING and now() < grant.expires_at


@sensitive_variables()
def grant_decide(*, ref: str, account: str, allow: bool, pin: str | None, address: str | None) -> OAuthGrant:
    """The claimant, signed in on the phone, allows or denies. For scope credential the PIN authorises exactly the
    digests shown (``keyuse.authorize``: a wrong PIN is counted and locks out as everywhere, and is raised here);
    the SAD is sealed under a fresh code, the code sealed to the asking browser's key."""
    grant = grant_by_ref(ref)
    if not grant_waiting(grant):
        raise Conflict(_("该授权请求已处理或已过期"), code="authorization_decided")
    if not allow:
        with transaction.atomic(durable=True):
            grant = OAuthGrant.objects.select_for_update().select_related("app").get(pk=grant.pk)
            if not grant_waiting(grant):
                raise Conflict(_("该授权请求已处理或已过期"), code="authorization_decided")
            grant.account, grant.decided_at = account, now()
            grant_move(grant, OAuthGrantStatus.DENIED, also=["account", "decided_at"])
            _audit("authorization_denied", grant.app.client_id, grant=grant.ref, account=account)
        return grant
    credential = None
    result = None
    if grant.scope == "credential":
        credential = credential_for(Caller("token", account), grant.credential_id)
        purpose = f"{grant.app.name}: {grant.description}" if grant.description else grant.app.name
        result = keyuse.authorize(
            caller=Caller("token", account),
            credential_id=grant.credential_id,
            operation="sign",
            hashes=list(grant.hashes),
            pin=pin if pin is not None else "",
            purpose=purpose[:100],
            file_name="、".join(label for label in grant.labels if label)[:200],
            address=address,
        )
    code = "mcc_" + secrets.token_urlsafe(32)
    with transaction.atomic(durable=True):
        grant = OAuthGrant.objects.select_for_update().select_related("app").get(pk=grant.pk)
        if not grant_waiting(grant):
            raise Conflict(_("该授权请求已处理或已过期"), code="authorization_decided")
        moment = now()
        grant.account, grant.decided_at = account, moment
        grant.code_digest = digest(code)
        grant.code_sealed = _seal_to(bytes(grant.browser_key), code.encode(), grant.ref.encode())
        grant.code_expires_at = moment + CODE_LIFETIME
        also = ["account", "decided_at", "code_digest", "code_sealed", "code_expires_at"]
        if result is not None:
            grant.key_use = KeyUseAuthorization.objects.get(sad_digest=digest(result.sad))
            grant.sad_sealed = _seal_sad(code, result.sad, grant.ref.encode())
            also += ["key_use", "sad_sealed"]
        grant_move(grant, OAuthGrantStatus.ALLOWED, also=also)
        _audit("authorization_allowed", grant.app.client_id, grant=grant.ref, account=account, scope=grant.scope)
        record_operation(
            action="oauth_grant",
            account=account,
            enterprise_uscc=credential.enterprise_uscc if credential else "",
            credential=credential,
            platform=grant.app.name,
            purpose=_("授权应用：{scope}").format(scope=grant.scope),
            address=address,
            data={"client": grant.app.client_id, "scope": grant.scope, "hashes": len(grant.hashes)},
        )
    return grant


@sensitive_variables()
def code_for_browser(grant: OAuthGrant, browser_private: bytes) -> str:
    """The code, opened with the private key only the asking browser holds (its cookie)."""
    if grant.code_sealed is None:
        raise Conflict(_("授权码不可用"), code="code_unavailable")
    try:
        return _open_with(browser_private, bytes(grant.code_sealed), grant.ref.encode()).decode()
    except (InvalidTag, ValueError):
        raise Conflict(_("授权码不可用"), code="code_unavailable") from None
