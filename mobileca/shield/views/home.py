"""The e签盾 home on the phone (issue 18): the front door the platform's QR code, every SMS and the success pages
lead to — 我的证书, 成员管理 for admins, 待授权, 操作记录, 修改/重置 PIN — and the short links of the text messages
(``/h5/s/<token>``, see ``shield.links``), and signing out."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mobileca.shield import keyuse, links, members
from mobileca.shield.views.common import SESSION_ACCOUNT, SESSION_ACCOUNT_AT, phone_account, sign_in_first


def h5_home(request: HttpRequest) -> HttpResponse:
    account = phone_account(request)
    if not account:
        return render(request, "shield/h5_home.html", {"signed_in": False})
    administered = members.administered_by(account)
    return render(
        request,
        "shield/h5_home.html",
        {
            "signed_in": True,
            "person": keyuse.holder_name(account),
            "pending": keyuse.pending_for(account),
            "administered": administered,
            "member_requests": sum(len(item.requests) for item in administered),
        },
    )


@require_POST
def h5_sign_out(request: HttpRequest) -> HttpResponse:
    """「退出登录」: the phone identity leaves this browser (the rest of the session, if any, stays)."""
    request.session.pop(SESSION_ACCOUNT, None)
    request.session.pop(SESSION_ACCOUNT_AT, None)
    request.session.cycle_key()
    return redirect("shield:h5_home")


def h5_link(request: HttpRequest, token: str) -> HttpResponse:
    """A text message's short link: signed in, on to its page; otherwise the Alipay login first, back here after.
    A forged or expired link gets a page saying what to do instead — never an error."""
    try:
        target = links.link_read(token)
    except links.LinkExpired:
        return _link_refused(request, _("该链接已过期。"), status=410)
    except links.LinkRefused:
        return _link_refused(request, _("该链接无效。"), status=404)
    account = phone_account(request)
    if not account:
        return sign_in_first(request)
    return redirect(links.destination(target, account))


def _link_refused(request: HttpRequest, message: str, *, status: int) -> HttpResponse:
    return render(request, "shield/h5_refusal.html", {"message": message, "link_refused": True}, status=status)
