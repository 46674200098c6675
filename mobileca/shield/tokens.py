"""The command-line tool's login: OAuth 2.0 device authorisation (RFC 8628). The tool asks for a device code and
shows the verification address as a QR code; the claimant opens it on the phone, signs in with their phone identity,
compares the user code and allows it; the tool, polling the token endpoint, then gets an access token for that
claimant (kept here only as a digest)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from mobileca.audit.services import Actor, audit_record
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, Conflict, NotFound
from mobileca.shield.models import AccessToken, DeviceGrant

DEVICE_CODE_LIFETIME = timedelta(minutes=10)
POLL_INTERVAL_SECONDS = 2
TOKEN_LIFETIME = timedelta(hours=8)  # a working day
_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # RFC 8628 §6.1: no vowels, no look-alikes


class DeviceFlowError(ApplicationError):
    """RFC 8628 §3.5 token-endpoint errors: the code is the OAuth ``error`` value."""

    status = 400


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class DeviceStart:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


def device_start(*, client_name: str) -> DeviceStart:
    device_code = secrets.token_urlsafe(32)
    raw = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
    user_code = f"{raw[:4]}-{raw[4:]}"
    moment = now()
    DeviceGrant.objects.create(
        device_code_digest=_digest(device_code),
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


def device_grant(user_code: str) -> DeviceGrant:
    grant = DeviceGrant.objects.filter(user_code=user_code.strip().upper()).first()
    if grant is None or grant.status != "pending" or now() >= grant.expires_at:
        raise NotFound(_("登录码无效或已过期，请在工具中重新登录"), code="device_code_unknown")
    return grant


@transaction.atomic(durable=True)
def device_decide(*, user_code: str, account: str, allow: bool) -> DeviceGrant:
    """The claimant, signed in on the phone, allows (or denies) the tool to act for them."""
    grant = device_grant(user_code)
    grant = DeviceGrant.objects.select_for_update().get(pk=grant.pk)
    if grant.status != "pending":
        raise Conflict(_("该登录请求已处理"), code="device_decided")
    grant.status, grant.account = ("allowed" if allow else "denied"), account
    grant.save(update_fields=["status", "account"])
    audit_record(
        action=f"device_login.{grant.status}",
        subject=f"phone:{account}",
        actor=Actor("phone", account),
        data={"client": grant.client_name, "user_code": grant.user_code},
    )
    return grant


def device_token(*, device_code: str) -> tuple[str, int]:
    """The token endpoint for the device-code grant: an access token once allowed, the RFC 8628 errors before."""
    refusal: DeviceFlowError | None = None
    with transaction.atomic(durable=True):
        grant = DeviceGrant.objects.select_for_update().filter(device_code_digest=_digest(device_code)).first()
        if grant is None:
            raise DeviceFlowError(_("登录码无效"), code="invalid_grant")
        moment = now()
        if grant.status in ("pending", "allowed") and moment >= grant.expires_at:
            raise DeviceFlowError(_("登录码已过期"), code="expired_token")
        if grant.status == "denied":
            raise DeviceFlowError(_("申领人拒绝了登录"), code="access_denied")
        if grant.status == "used":
            raise DeviceFlowError(_("登录码已使用"), code="invalid_grant")
        if grant.status == "pending":
            too_soon = grant.last_polled_at and (moment - grant.last_polled_at).total_seconds() < POLL_INTERVAL_SECONDS
            grant.last_polled_at = moment
            grant.save(update_fields=["last_polled_at"])
            refusal = DeviceFlowError(_("等待手机确认"), code="slow_down" if too_soon else "authorization_pending")
        else:
            token = "mcu_" + secrets.token_urlsafe(32)
            AccessToken.objects.create(
                token_digest=_digest(token),
                account=grant.account,
                client_name=grant.client_name,
                created_at=moment,
                expires_at=moment + TOKEN_LIFETIME,
            )
            grant.status = "used"
            grant.save(update_fields=["status"])
            audit_record(
                action="access_token.issued",
                subject=f"phone:{grant.account}",
                actor=Actor("phone", grant.account),
                data={"client": grant.client_name},
            )
            return token, int(TOKEN_LIFETIME.total_seconds())
    raise refusal
