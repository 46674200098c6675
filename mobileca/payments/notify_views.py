"""Gateway notification endpoints. No session, no CSRF: the signature is the authentication."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from mobileca.core.middleware import own_boundary
from mobileca.payments.notifications import alipay_notification_receive, wechatpay_notification_receive


def _remote(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))


@own_boundary  # every refusal is answered in the gateway's format and recorded
@csrf_exempt
@require_POST
def alipay(request: HttpRequest) -> HttpResponse:
    """Reply exactly ``success`` once the notification is stored (or was already); anything else makes Alipay retry."""
    form = {key: request.POST.get(key, "") for key in request.POST}
    result = alipay_notification_receive(form=form, remote_addr=_remote(request))
    return HttpResponse("success" if result.accepted else "failure", content_type="text/plain")


@own_boundary
@csrf_exempt
@require_POST
def wechatpay(request: HttpRequest) -> HttpResponse:
    """204 once stored; a refusal is a 4xx with WeChat's ``{"code": "FAIL", …}`` so the gateway retries."""
    headers = {key: value for key, value in request.headers.items()}
    result = wechatpay_notification_receive(headers=headers, body=request.body, remote_addr=_remote(request))
    if result.accepted:
        return HttpResponse(status=204)
    return JsonResponse({"code": "FAIL", "message": "失败"}, status=401 if result.unauthenticated else 400)
