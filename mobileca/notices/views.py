from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from mobileca.accounts.selectors import access_enterprise_by_user
from mobileca.notices.services import notices_for, notices_mark_read


@login_required
def notice_list(request: HttpRequest) -> HttpResponse:
    """「消息中心」: the enterprise's notices; opening the page marks them read (POST marks them read explicitly)."""
    enterprise = access_enterprise_by_user(request.user)
    if request.method == "POST":
        notices_mark_read(enterprise_id=enterprise.pk)
        return redirect("notices:list")
    return render(request, "notices/list.html", {"notices": notices_for(enterprise_id=enterprise.pk)})
