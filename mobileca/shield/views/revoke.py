"""「吊销证书」 on the phone (issue 21): the claimant revokes their own credential for key compromise. The page says
what revocation does and lists the card's sealed, unopened bids (they become unreadable); a POST without a face
check opens a fresh one (purpose "revoke"); back from it, with the passed check and the list confirmed, the POST
revokes (``revocation.revoke_by_claimant``: the check at most 10 minutes old, used once). Someone else's 服务编号
is not found (404), like every phone page."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from mobileca.core.errors import NotFound, PermissionDenied
from mobileca.core.http import client_address
from mobileca.shield import renewal, revocation
from mobileca.shield.views.common import attempt, certificates_of, phone_login_required, refusal


@phone_login_required()
def h5_revoke(request: HttpRequest, account: str, service_no: str) -> HttpResponse:
    check_id = request.POST.get("check_id") or request.GET.get("check_id", "")
    try:
        credential = revocation.own_credential(account=account, service_no=service_no)
    except NotFound as exc:
        return refusal(request, exc.message, status=exc.status)
    revoked = credential.revoked_reason == revocation.KEY_COMPROMISE
    passed = False

    def page(*, status: int = 200, error: str = "", done: bool = False) -> HttpResponse:
        return render(
            request,
            "shield/h5_revoke.html",
            {
                "credential": credential,
                "certificates": certificates_of(credential),
                "bids": [] if revoked or done else renewal.pending_bids(credential),
                "check_id": check_id if passed and not done else "",
                "revoked": revoked,
                "done": done,
                "error": error,
            },
            status=status,
        )

    if revoked:
        return page(error=_("该证书已因密钥泄露吊销，无需再次吊销"), status=200 if request.method == "GET" else 409)
    if request.method != "POST":
        if not check_id:
            return page()

        def back_from_face() -> HttpResponse:
            nonlocal passed
            if revocation.revoke_face_finish(check_id=check_id, account=account) != credential.service_no:
                raise PermissionDenied(_("请先完成人脸识别"), code="face_required")  # another card's check
            passed = True
            return page()

        return attempt(back_from_face, lambda message, status: page(error=message, status=status))

    def revoke() -> HttpResponse:
        nonlocal passed
        if not check_id:
            return redirect(revocation.revoke_face_start(account=account, service_no=service_no))
        passed = True
        revocation.revoke_by_claimant(
            account=account,
            service_no=service_no,
            check_id=check_id,
            bids_confirmed=request.POST.get("bids_confirmed") == "yes",
            address=client_address(request),
        )
        return page(done=True)

    def explain(message: str, status: int) -> HttpResponse:
        nonlocal passed
        passed = passed and status == 400  # an unconfirmed list may be confirmed with the same check
        return page(error=message, status=status)

    return attempt(revoke, explain)


def revoke_return(request: HttpRequest, account: str, check_id: str) -> HttpResponse:
    """Back from a revocation's face check (``/h5/face/return/`` with a check of purpose "revoke"): on to the
    revocation page with the check, which records its result."""

    def finish() -> HttpResponse:
        service_no = revocation.revoke_face_finish(check_id=check_id, account=account)
        return redirect(reverse("shield:h5_revoke", args=[service_no]) + "?" + urlencode({"check_id": check_id}))

    return attempt(finish, lambda message, status: refusal(request, message, status=status))
