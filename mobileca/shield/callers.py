"""Who calls the remote-signing API, and how they got in: a platform (an ``ApiClient``: its client id and secret
get it a short-lived access token by the client-credentials grant, ``oauth.py``; it never sends a PIN, so every use
it asks for is approved on the claimant's phone), a claimant's application (an OAuth access token from the
authorisation-code grant, ``oauth.py``: scope service, or scope credential — one approval, the token being its
SAD, for that credential only) or the claimant's own command-line tool (an ``AccessToken`` from the device login,
RFC 8628: the tool shows the verification address as a QR code; the claimant opens it on the phone, signs in with
the phone identity, compares the user code and allows it; the tool, polling the token endpoint, then gets a token
for that claimant). Which caller a bearer token stands for is ``oauth.caller_for_bearer``. Secrets and tokens are
kept only as digests. Which credentials a caller may see is decided here
too. Every function that holds a secret, a token or a device code is ``sensitive_variables``: no error report shows
one."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from mobileca.audit.services import Actor, audit_record
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, Conflict, NotFound
from mobileca.shield.models import AccessToken, ApiClient, Credential, DeviceGrant, DeviceGrantStatus
from mobileca.shield.transitions import device_grant_move

SERVICE = Actor("system", "shield")


@dataclass(frozen=True)
class Caller:
    """Who calls the remote-signing API: ``client`` (a platform) or ``token`` (a claimant's tool)."""

    kind: str
    ident: str  # client id, or the claimant's phone account
    platform: str = ""
    # An OAuth access token of scope "credential" (CSC API v2 §8.4) is itself the authorisation of one use: the
    # SAD that ``signatures/signHash`` takes when the request carries none. Empty for every other caller.
    sad: str = field(default="", repr=False)
    # With scope "credential" the caller sees that one credential only (CSC API v2 §8.4).
    credential: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.ident}"


@sensitive_variables()
def digest(value: str) -> str:
    """How bearer keys, tokens, device codes and polling handles are kept: their SHA-256 (they are random)."""
    return hashlib.sha256(value.encode()).hexdigest()


@sensitive_variables()
def api_client_create(*, platform: str) -> tuple[ApiClient, str]:
    """A platform's OAuth client (client credentials grant): its client id, and its secret, shown once and kept only
    as a digest (``ApiClient.key_digest``)."""
    key = "mcp_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        client = ApiClient.objects.create(
            client_id="pl_" + secrets.token_hex(6), platform=platform, key_digest=digest(key), created_at=now()
        )
        audit_record(action="api_client.created", subject=f"api_client:{client.client_id}", actor=SERVICE)
    return client, key


# --- which credentials a caller sees ---------------------------------------------------------------------------


def credentials_of(caller: Caller) -> list[Credential]:
    if caller.kind == "token":
        rows = Credential.objects.filter(account=caller.ident)
        if caller.credential:
            rows = rows.filter(service_no=caller.credential)
    else:
        rows = Credential.objects.filter(claim__platform=caller.platform)
    return list(rows.select_related("claim").order_by("activated_at"))


def credential_for(caller: Caller, credential_id: str) -> Credential:
    """The credential if this caller may use it; an unknown and a foreign credential look the same."""
    credential = Credential.objects.select_related("claim").filter(service_no=credential_id).first()
    visible = credential is not None and (
        (
            caller.kind == "token"
            and credential.account == caller.ident
            and caller.credential in ("", credential.service_no)
        )
        or (caller.kind == "client" and credential.claim.platform == caller.platform)
    )
    if not visible or credential is None:
        raise NotFound(_("未找到该证书"), code="credential_unknown")
    return credential


# --- the command-line tool's device login (RFC 8628) -----------------------------------------------------------

DEVICE_CODE_LIFETIME = timedelta(minutes=10)
POLL_INTERVAL_SECONDS = 2
TOKEN_LIFETIME = timedelta(hours=8)  # a working day
_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # RFC 8628 §6.1: no vowels, no look-alikes


class DeviceFlowError(ApplicationError):
    """RFC 8628 §3.5 token-endpoint errors: the code is the OAuth ``error`` value."""

    status = 400


@dataclass(frozen=True)
class DeviceStart:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


@sensitive_variables()
def device_start(*, client_name: str) -> DeviceStart:
    device_code = secrets.token_urlsafe(32)
    raw = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
    user_code = f"{raw[:4]}-{raw[4:]}"
    moment = now()
    DeviceGrant.objects.create(
        device_code_digest=digest(device_code),
        user_code=user_code,
        client_name=(client_name.strip() or "mobileca")[:60],
        created_at=moment,
        expires_at=moment + DEVICE_CODE_LIFETIME,
    )
    base = settings.MOBILECA_PUBLIC_URL + reverse("shield:h5_device")
    return DeviceStart(
        device_code=device_code,
        user_code=user_code,
        verification_uri=base,
        verification_uri_complete=f"{base}?user_code={user_code}",
        expires_in=int(DEVICE_CODE_LIFETIME.total_seconds()),
        interval=POLL_INTERVAL_SECONDS,
    )


@sensitive_variables()
def device_grant(user_code: str) -> DeviceGrant:
    typed = user_code.strip().upper()
    grant = DeviceGrant.objects.filter(user_code=typed).first() if len(typed) <= 9 else None
    if grant is None or grant.status != DeviceGrantStatus.PENDING or now() >= grant.expires_at:
        raise NotFound(_("登录码无效或已过期，请在工具中重新登录"), code="device_code_unknown")
    return grant


@sensitive_variables()
@transaction.atomic(durable=True)
def device_decide(*, user_code: str, account: str, allow: bool) -> DeviceGrant:
    """The claimant, signed in on the phone, allows (or denies) the tool to act for them."""
    grant = device_grant(user_code)
    grant = DeviceGrant.objects.select_for_update().get(pk=grant.pk)
    if grant.status != DeviceGrantStatus.PENDING:
        raise Conflict(_("该登录请求已处理"), code="device_decided")
    grant.account = account
    device_grant_move(grant, DeviceGrantStatus.ALLOWED if allow else DeviceGrantStatus.DENIED, also=["account"])
    audit_record(
        action=f"device_login.{grant.status}",
        subject=f"phone:{account}",
        actor=Actor("phone", account),
        data={"client": grant.client_name, "user_code": grant.user_code},
    )
    return grant


@sensitive_variables()
def device_token(*, device_code: str) -> tuple[str, int]:
    """The token endpoint for the device-code grant: an access token once allowed, the RFC 8628 errors before."""
    refusal: DeviceFlowError | None = None
    with transaction.atomic(durable=True):
        grant = DeviceGrant.objects.select_for_update().filter(device_code_digest=digest(device_code)).first()
        if grant is None:
            raise DeviceFlowError(_("登录码无效"), code="invalid_grant")
        moment = now()
        if grant.status in (DeviceGrantStatus.PENDING, DeviceGrantStatus.ALLOWED) and moment >= grant.expires_at:
            raise DeviceFlowError(_("登录码已过期"), code="expired_token")
        if grant.status == DeviceGrantStatus.DENIED:
            raise DeviceFlowError(_("申领人拒绝了登录"), code="access_denied")
        if grant.status == DeviceGrantStatus.USED:
            raise DeviceFlowError(_("登录码已使用"), code="invalid_grant")
        if grant.status == DeviceGrantStatus.PENDING:
            too_soon = grant.last_polled_at and (moment - grant.last_polled_at).total_seconds() < POLL_INTERVAL_SECONDS
            grant.last_polled_at = moment
            grant.save(update_fields=["last_polled_at"])
            refusal = DeviceFlowError(_("等待手机确认"), code="slow_down" if too_soon else "authorization_pending")
        else:
            token = "mcu_" + secrets.token_urlsafe(32)
            AccessToken.objects.create(
                token_digest=digest(token),
                account=grant.account,
                client_name=grant.client_name,
                created_at=moment,
                expires_at=moment + TOKEN_LIFETIME,
            )
            device_grant_move(grant, DeviceGrantStatus.USED)
            audit_record(
                action="access_token.issued",
                subject=f"phone:{grant.account}",
                actor=Actor("phone", grant.account),
                data={"client": grant.client_name},
            )
            return token, int(TOKEN_LIFETIME.total_seconds())
    raise refusal
