"""The claimant's side of the OAuth authorisation-code grant (issue 17, CSC API v2 §8.4.2): the page the
``oauth2/authorize`` request leads to. In the browser that asked (a desktop) it shows a QR code to continue on the
phone, and follows the request; on the phone, after the Alipay-identity sign-in, the claimant reads what the
application asks — for scope credential the credential, the documents and their digests — and allows (with the PIN
for scope credential: that approval is the SCAL2 authorisation) or denies. The browser that asked, and only it (it
holds the key the code is sealed to, in a cookie), is then sent to the application's redirect URI with the code
and the state, or the error."""

from __future__ import annotations

import segno
from django.conf import settings
from django.core.signing import BadSignature
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError
from mobileca.core.http import client_address
from mobileca.core.secrecy import hide_secrets
from mobileca.shield import oauth
from mobileca.shield.models import OAuthGrant, OAuthGrantStatus
from mobileca.shield.oauth_api import BROWSER_COOKIE, BROWSER_COOKIE_SALT, code_redirect, error_redirect
from mobileca.shield.views.common import phone_account, refusal, refuse_unsigned


@sensitive_variables()
def _browser_key(request: HttpRequest) -> bytes | None:
    """The private key of the browser that asked (its cookie), or None in any other browser."""
    try:
        value = request.get_signed_cookie(
            BROWSER_COOKIE, salt=BROWSER_COOKIE_SALT, max_age=int(oauth.REQUEST_LIFETIME.total_seconds())
        )
        return bytes.fromhex(value or "") or None
    except (KeyError, BadSignature, ValueError):
        return None


def _status(grant: OAuthGrant) -> str:
    if grant.status == OAuthGrantStatus.PENDING and now() >= grant.expires_at:
        return "expired"
    return str(grant.status)


def _page(request: HttpRequest, grant: OAuthGrant, *, account: str, error: str = "", status: int = 200) -> HttpResponse:
    here = reverse("shield:h5_oauth", args=[grant.ref])
    login_url = reverse("shield:h5_members_login") + "?" + urlencode({"next": here})
    qr = segno.make(settings.MOBILECA_PUBLIC_URL + here, error="m").svg_inline(scale=4, border=2)
    return render(
        request,
        "shield/h5_oauth.html",
        {
            "grant": grant,
            "state": _status(grant),
            "account": account,
            "digests": list(zip(grant.hashes, grant.labels or [""] * len(grant.hashes), strict=False)),
            "qr_svg": mark_safe(qr),  # noqa: S308 - segno's SVG of our own URL
            "login_url": login_url,
            "asker": _browser_key(request) is not None,
            "status_url": reverse("shield:h5_oauth_status", args=[grant.ref]),
            "done_url": reverse("shield:h5_oauth_done", args=[grant.ref]),
            "error": error,
        },
        status=status,
    )


@hide_secrets("pin")
def h5_oauth(request: HttpRequest, ref: str) -> HttpResponse:
    try:
        grant = oauth.grant_by_ref(ref)
    except ApplicationError as exc:
        return refusal(request, exc.message, status=exc.status)
    account = phone_account(request)
    if request.method != "POST":
        return _page(request, grant, account=account)
    if not account:
        return refuse_unsigned(request)
    allow = request.POST.get("decision") == "allow"
    try:
        oauth.grant_decide(
            ref=ref,
            account=account,
            allow=allow,
            pin=request.POST.get("pin", "") if grant.scope == "credential" else None,
            address=client_address(request),
        )
    except ApplicationError as exc:  # a wrong PIN (counted), a credential not theirs, a request decided meanwhile
        grant.refresh_from_db()
        return _page(request, grant, account=account, error=exc.message, status=exc.status)
    if _browser_key(request) is not None:  # the phone is the browser that asked: on to the application
        return redirect("shield:h5_oauth_done", ref=ref)
    return redirect("shield:h5_oauth", ref=ref)


def h5_oauth_status(request: HttpRequest, ref: str) -> JsonResponse:
    """What the asking browser's page polls."""
    grant = OAuthGrant.objects.filter(ref=ref[:40]).first()
    if grant is None:
        return JsonResponse({"status": "unknown"}, status=404)
    return JsonResponse({"status": _status(grant)})


@sensitive_variables()
def h5_oauth_done(request: HttpRequest, ref: str) -> HttpResponse:
    """The browser that asked goes back to the application: the code and the state, or the error."""
    try:
        grant = oauth.grant_by_ref(ref)
    except ApplicationError as exc:
        return refusal(request, exc.message, status=exc.status)
    private = _browser_key(request)
    if private is None:
        return refusal(request, _("请回到发起授权的浏览器中继续"), status=403)
    state = _status(grant)
    if state == "allowed" and grant.code_expires_at is not None and now() < grant.code_expires_at:
        try:
            code = oauth.code_for_browser(grant, private)
        except ApplicationError as exc:
            return refusal(request, exc.message, status=exc.status)
        return code_redirect(grant.redirect_uri, code, grant.state)
    if state == "denied":
        return error_redirect(grant.redirect_uri, grant.state, "access_denied", "the user denied the request")
    if state in ("expired", "allowed"):
        return error_redirect(grant.redirect_uri, grant.state, "access_denied", "the request expired")
    if state == "pending":
        return redirect("shield:h5_oauth", ref=ref)
    return refusal(request, _("该授权请求已处理"), status=409)
