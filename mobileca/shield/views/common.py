"""What every phone page shares: the phone identity signed in for one sitting, ``phone_login_required``, how a
service call's refusal or an unavailable provider is shown (``core.secrecy.hide_secrets`` marks every page that
receives a PIN, a code or anything else no error report may show)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from mobileca.ca import facade as ca_facade
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, GatewayError
from mobileca.shield.models import Credential

log = logging.getLogger("mobileca.shield.views")
P = ParamSpec("P")
PhoneView = Callable[Concatenate[HttpRequest, str, P], HttpResponse]
View = Callable[Concatenate[HttpRequest, P], HttpResponse]
AnyView = TypeVar("AnyView", bound=Callable[..., HttpResponse])
SESSION_ACCOUNT = "shield_account"
SESSION_ACCOUNT_AT = "shield_account_at"
PHONE_LOGIN_SECONDS = 30 * 60  # the phone identity is good for one sitting, not for the session's two weeks


def phone_account(request: HttpRequest) -> str:
    """The phone identity signed in on this browser, or "" (never signed in, or more than half an hour ago)."""
    started = request.session.get(SESSION_ACCOUNT_AT, 0)
    if not isinstance(started, (int, float)) or now().timestamp() - started > PHONE_LOGIN_SECONDS:
        request.session.pop(SESSION_ACCOUNT, None)
        return ""
    return str(request.session.get(SESSION_ACCOUNT, ""))


def algorithm_label(key_profile: str) -> str:
    """A key profile's algorithm in plain words: 「国密 SM2」, 「ECDSA P-256」, 「RSA 2048」."""
    profile = ca_facade.key_profile(key_profile)
    if profile.family == "sm2":
        return _("国密 SM2")
    if profile.family == "ec":
        return "ECDSA P-256" if profile.curve == "secp256r1" else f"ECDSA {profile.curve}"
    return f"RSA {profile.key_size}"


@dataclass(frozen=True)
class ShownCertificate:
    """A certificate as the phone pages show it: the CA's ``CertificateInfo`` (its fields read through) and the
    algorithm in plain words."""

    info: ca_facade.CertificateInfo
    algorithm: str

    def __getattr__(self, name: str) -> Any:
        return getattr(self.info, name)


def certificates_of(credential: Credential) -> list[ShownCertificate]:
    """Both certificates of a credential in plain language (holder, enterprise, 统一社会信用代码, usage, algorithm,
    validity, serial), as 开通成功, 续费成功 and 我的证书 show them. The algorithm is the credential's key profile's
    (both of its certificates are of that profile)."""
    algorithm = algorithm_label(credential.key_profile)
    return [
        ShownCertificate(ca_facade.certificate_info(serial_hex=serial), algorithm)
        for serial in (credential.sign_serial, credential.encrypt_serial)
    ]


def refusal(request: HttpRequest, message: str, *, status: int) -> HttpResponse:
    return render(request, "shield/h5_refusal.html", {"message": message}, status=status)


def sign_in_first(request: HttpRequest) -> HttpResponse:
    """The sign-in page, coming back here after the Alipay login."""
    login = reverse("shield:h5_members_login") + "?" + urlencode({"next": request.get_full_path()})
    return render(request, "shield/h5_sign_in.html", {"login_url": login})


def refuse_unsigned(request: HttpRequest) -> HttpResponse:
    """For a form posted without (or after) the phone login."""
    return refusal(request, _("请先使用支付宝登录"), status=403)


def phone_login_required(
    otherwise: Callable[[HttpRequest], HttpResponse] = sign_in_first,
) -> Callable[
    [Callable[Concatenate[HttpRequest, str, P], HttpResponse]], Callable[Concatenate[HttpRequest, P], HttpResponse]
]:
    """The view runs for a signed-in phone identity, which it gets as its second argument; without one the
    browser gets ``otherwise`` (by default the sign-in page that comes back here)."""

    def decorate(view: PhoneView[P]) -> View[P]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
            account = phone_account(request)
            if not account:
                return otherwise(request)
            return view(request, account, *args, **kwargs)

        return wrapped

    return decorate


def attempt(action: Callable[[], HttpResponse], explain: Callable[[str, int], HttpResponse]) -> HttpResponse:
    """Run a page's service call: a refusal is explained with its message and status; an external service or the
    key back-end that fails is logged and explained as temporarily unavailable (502)."""
    try:
        return action()
    except GatewayError:  # the key back-end's failures are on this branch too
        log.exception("a phone page's call failed at an external service or the key back-end")
        return explain(_("服务暂时不可用，请稍后重试"), 502)
    except ApplicationError as exc:
        return explain(exc.message, exc.status)


# --- secrets never on a page ------------------------------------------------------------------------------------
