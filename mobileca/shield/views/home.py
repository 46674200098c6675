"""The e签盾 home on the phone (issue 18): the front door the platform's QR code, every SMS and the success pages
lead to — 我的证书, 成员管理 for admins, 待授权, 操作记录, 修改/重置 PIN."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from mobileca.shield import keyuse, members
from mobileca.shield.views.common import phone_account


def h5_home(request: HttpRequest) -> HttpResponse:
    account = phone_account(request)
    if not account:
        return render(request, "shield/h5_home.html", {"signed_in": False})
    return render(
        request,
        "shield/h5_home.html",
        {
            "signed_in": True,
            "pending": keyuse.pending_for(account),
            "administered": members.administered_by(account),
        },
    )
