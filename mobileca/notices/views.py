from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from mobileca.accounts.selectors import access_enterprise_by_user
from mobileca.core.errors import ApplicationError, TooMany
from mobileca.notices.models import SupportRequest
from mobileca.notices.services import notices_for, notices_mark_read, support_request_create


@login_required
def notice_list(request: HttpRequest) -> HttpResponse:
    """「消息中心」: the enterprise's notices; opening the page marks them read (POST marks them read explicitly)."""
    enterprise = access_enterprise_by_user(request.user)
    if request.method == "POST":
        notices_mark_read(enterprise_id=enterprise.pk)
        return redirect("notices:list")
    return render(request, "notices/list.html", {"notices": notices_for(enterprise_id=enterprise.pk)})


@login_required
def contact(request: HttpRequest) -> HttpResponse:
    """「在线留言」: ask customer service; the answers appear here and in the message centre."""
    enterprise = access_enterprise_by_user(request.user)
    error, status, retry_after = "", 200, 0
    if request.method == "POST":
        try:
            support_request_create(
                enterprise_id=enterprise.pk,
                user_id=int(request.user.pk or 0),
                subject=request.POST.get("subject", ""),
                message=request.POST.get("message", ""),
                phone=request.POST.get("phone", ""),
            )
            return redirect("help:contact")
        except TooMany as exc:
            error, status, retry_after = exc.message, exc.status, exc.retry_after
        except ApplicationError as exc:
            error, status = exc.message, exc.status
    requests = SupportRequest.objects.filter(enterprise=enterprise)[:50]
    response = render(
        request, "notices/contact.html", {"active": "faq", "requests": requests, "error": error}, status=status
    )
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response
