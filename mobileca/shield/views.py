"""The signing service's phone (H5) pages: the scanned QR code, the Alipay login, the claim's next steps."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters

from mobileca.ca import facade as ca_facade
from mobileca.ca.backends import KeyBackendError
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, GatewayError, InvalidInput
from mobileca.core.http import client_address
from mobileca.shield import identity, keyuse, members, renewal, tokens
from mobileca.shield.models import ClaimStatus, ClaimStep, Credential, FaceCheck, PhoneAccount, TransferStatus
from mobileca.shield.services import (
    claim_accept_agreements,
    claim_activate,
    claim_bind,
    claim_by_ticket,
    claim_choose_enterprise_service,
    claim_request_approval,
    enterprise_create,
    face_check_finish,
    face_check_start,
    phone_account_record,
    sms_code_send,
    sms_code_verify,
)
from mobileca.shield.transfers import (
    forward_transfer_confirm,
    forward_transfer_start,
    reverse_transfer_start,
    reverse_voucher_upload,
)

log = logging.getLogger(__name__)
SESSION_ACCOUNT = "shield_account"
SESSION_ACCOUNT_AT = "shield_account_at"
PHONE_LOGIN_SECONDS = 30 * 60  # the phone identity is good for one sitting, not for the session's two weeks


def _account(request: HttpRequest) -> str:
    started = request.session.get(SESSION_ACCOUNT_AT, 0)
    if not isinstance(started, (int, float)) or now().timestamp() - started > PHONE_LOGIN_SECONDS:
        request.session.pop(SESSION_ACCOUNT, None)
        return ""
    return str(request.session.get(SESSION_ACCOUNT, ""))


SESSION_LOGIN = "shield_login"


def h5_claim(request: HttpRequest, ticket: str, error: str = "", status: int = 200) -> HttpResponse:
    """The page a scan opens: which enterprise and platform, whether the code still works, and for the claimant,
    the step the claim stands at (R3.10: scanning again resumes there)."""
    claim = claim_by_ticket(ticket=ticket)
    account = _account(request)
    expired = claim.status == ClaimStatus.WAITING and now() >= claim.ticket_expires_at
    claimant = PhoneAccount.objects.filter(account=claim.claimant_account).first() if claim.claimant_account else None
    credential = None
    if claim.status == ClaimStatus.ACTIVATED:
        credential = (
            Credential.objects.filter(claim=claim).first()
            if claim.kind == "claim"
            else renewal.credential_of_card(claim.card_ref)
        )
    renewing = renewal.credential_of_card(claim.card_ref) if claim.step == ClaimStep.RENEWAL else None
    sms_sent = claim.sms_challenges.filter(verified_at__isnull=True).order_by("-sent_at").first()
    transfer = claim.forward_transfers.filter(status=TransferStatus.PENDING).order_by("-created_at").first()
    reverse = claim.reverse_transfers.exclude(status=TransferStatus.FAILED).order_by("-created_at").first()
    membership = (
        members.latest_membership(uscc=claim.enterprise_uscc, account=claim.claimant_account)
        if claim.claimant_account and claim.step in (ClaimStep.APPROVAL, ClaimStep.PIN)
        else None
    )
    certificates = (
        [
            ca_facade.certificate_info(serial_hex=serial)
            for serial in (credential.sign_serial, credential.encrypt_serial)
        ]
        if credential
        else []
    )
    return render(
        request,
        "shield/h5_claim.html",
        {
            "claim": claim,
            "expired": expired,
            "is_claimant": bool(account) and account == claim.claimant_account,
            "claimant": claimant,
            "credential": credential,
            "sms_sent": sms_sent,
            "transfer": transfer,
            "reverse": reverse,
            "reverse_refusals": reverse.credits.exclude(outcome="matched") if reverse else [],
            "membership": membership,
            # the page follows what others do: the admin's decision, the bank's statement
            "follow": claim.step == ClaimStep.APPROVAL
            or (reverse is not None and reverse.status == TransferStatus.PENDING and reverse.voucher_uploaded_at),
            "certificates": certificates,
            "renewing": renewing,
            "renewal_bids": renewal.pending_bids(renewing) if renewing else [],
            "error": error,
        },
        status=status,
    )


def _step(request: HttpRequest, ticket: str, action: Callable[[str], object]) -> HttpResponse:
    """Run one claim step for the signed-in claimant, then show where the claim stands."""
    if request.method != "POST":
        return redirect("shield:h5_claim", ticket=ticket)
    account = _account(request)
    if not account:
        return _refusal(request, _("请先使用支付宝登录"), status=403)
    try:
        action(account)
    except (GatewayError, KeyBackendError):
        log.exception("claim step failed at an external service or the key back-end")
        return h5_claim(request, ticket, error=_("服务暂时不可用，请稍后重试"), status=502)
    except ApplicationError as exc:
        return h5_claim(request, ticket, error=exc.message, status=exc.status)
    return redirect("shield:h5_claim", ticket=ticket)


def h5_service(request: HttpRequest, ticket: str) -> HttpResponse:
    return _step(request, ticket, lambda account: claim_choose_enterprise_service(ticket=ticket, account=account))


def h5_enterprise(request: HttpRequest, ticket: str) -> HttpResponse:
    name = request.POST.get("organisation_name", "")
    return _step(
        request, ticket, lambda account: enterprise_create(ticket=ticket, account=account, organisation_name=name)
    )


def h5_face(request: HttpRequest, ticket: str) -> HttpResponse:
    """「开始人脸识别」: off to the liveness provider (R3.5)."""
    if request.method != "POST":
        return redirect("shield:h5_claim", ticket=ticket)
    account = _account(request)
    if not account:
        return _refusal(request, _("请先使用支付宝登录"), status=403)
    try:
        return redirect(face_check_start(ticket=ticket, account=account))
    except (GatewayError, KeyBackendError):
        log.exception("liveness provider failed")
        return h5_claim(request, ticket, error=_("服务暂时不可用，请稍后重试"), status=502)
    except ApplicationError as exc:
        return h5_claim(request, ticket, error=exc.message, status=exc.status)


def h5_legal_rep_face(request: HttpRequest, ticket: str) -> HttpResponse:
    """法定代表人认证 → 人脸认证: the claimant, who must be the registered legal representative, faces again (R3.6)."""
    if request.method != "POST":
        return redirect("shield:h5_claim", ticket=ticket)
    account = _account(request)
    if not account:
        return _refusal(request, _("请先使用支付宝登录"), status=403)
    try:
        return redirect(face_check_start(ticket=ticket, account=account, purpose="legal_rep"))
    except (GatewayError, KeyBackendError):
        log.exception("liveness provider failed")
        return h5_claim(request, ticket, error=_("服务暂时不可用，请稍后重试"), status=502)
    except ApplicationError as exc:
        return h5_claim(request, ticket, error=exc.message, status=exc.status)


def h5_sms_send(request: HttpRequest, ticket: str) -> HttpResponse:
    """手机号认证: a code to the legal representative's phone (R3.6)."""
    return _step(request, ticket, lambda account: sms_code_send(ticket=ticket, account=account))


@sensitive_post_parameters("code")
def h5_sms_verify(request: HttpRequest, ticket: str) -> HttpResponse:
    code = request.POST.get("code", "")
    return _step(request, ticket, lambda account: sms_code_verify(ticket=ticket, account=account, code=code))


def h5_transfer_start(request: HttpRequest, ticket: str) -> HttpResponse:
    """对公打款认证 → 正向打款: the corporate account; the service pays a small amount into it (R3.6)."""
    fields = {key: request.POST.get(key, "") for key in ("bank_name", "account_name", "account_no")}
    return _step(request, ticket, lambda account: forward_transfer_start(ticket=ticket, account=account, **fields))


def h5_transfer_confirm(request: HttpRequest, ticket: str) -> HttpResponse:
    amount = request.POST.get("amount", "")
    return _step(
        request, ticket, lambda account: forward_transfer_confirm(ticket=ticket, account=account, amount=amount)
    )


def h5_reverse_start(request: HttpRequest, ticket: str) -> HttpResponse:
    """对公打款认证 → 反向打款: the paying corporate account; the service shows where to pay and the memo (R3.6)."""
    fields = {key: request.POST.get(key, "") for key in ("bank_name", "account_name", "account_no")}
    return _step(request, ticket, lambda account: reverse_transfer_start(ticket=ticket, account=account, **fields))


def h5_reverse_voucher(request: HttpRequest, ticket: str) -> HttpResponse:
    def upload(account: str) -> object:
        voucher = request.FILES.get("voucher")
        if voucher is None:
            raise InvalidInput(_("请选择要上传的凭证文件"), code="voucher_empty")
        return reverse_voucher_upload(ticket=ticket, account=account, upload=voucher)

    return _step(request, ticket, upload)


@sensitive_post_parameters("pin")
def h5_renewal(request: HttpRequest, ticket: str) -> HttpResponse:
    """「确认续费」 (R4.1, R4.2): the list of bids read and confirmed, the PIN; re-key."""
    pin, confirmed = request.POST.get("pin", ""), request.POST.get("bids_confirmed") == "yes"
    address = client_address(request)
    return _step(
        request,
        ticket,
        lambda account: renewal.renewal_complete(
            ticket=ticket, account=account, pin=pin, confirmed_bids=confirmed, address=address
        ),
    )


def h5_request_approval(request: HttpRequest, ticket: str) -> HttpResponse:
    """「向管理员发送审批申请」 (R3.8)."""
    return _step(request, ticket, lambda account: claim_request_approval(ticket=ticket, account=account))


@sensitive_post_parameters("pin", "pin_again")
def h5_pin(request: HttpRequest, ticket: str) -> HttpResponse:
    """Set the 6-digit PIN twice → 「开通成功」 (R3.7)."""
    pin, again = request.POST.get("pin", ""), request.POST.get("pin_again", "")
    address = client_address(request)
    return _step(
        request,
        ticket,
        lambda account: claim_activate(ticket=ticket, account=account, pin=pin, pin_again=again, address=address),
    )


def h5_face_return(request: HttpRequest) -> HttpResponse:
    account = _account(request)
    check = FaceCheck.objects.select_related("claim").filter(check_id=request.GET.get("check_id", "")).first()
    if not account or check is None or check.account != account:
        return _refusal(request, _("登录已失效，请重新扫码"), status=400)
    if check.purpose == "pin_reset":
        return _pin_reset_return(request, account, check.check_id)
    try:
        face_check_finish(check_id=check.check_id, account=account)
    except (GatewayError, KeyBackendError):
        log.exception("liveness result failed")
        return h5_claim(request, check.claim.ticket, error=_("服务暂时不可用，请稍后重试"), status=502)
    except ApplicationError as exc:
        return h5_claim(request, check.claim.ticket, error=exc.message, status=exc.status)
    return redirect("shield:h5_claim", ticket=check.claim.ticket)


def h5_agreements(request: HttpRequest, ticket: str) -> HttpResponse:
    def accept(account: str) -> object:
        if request.POST.get("agree") != "yes":
            raise InvalidInput(_("请阅读并同意《e签盾服务协议》《隐私政策》"), code="agreements_not_accepted")
        return claim_accept_agreements(ticket=ticket, account=account)

    return _step(request, ticket, accept)


def h5_login(request: HttpRequest, ticket: str = "") -> HttpResponse:
    """「支付宝登录」: off to the identity provider, with a state and a nonce this browser alone knows. With a ticket
    the login binds (or resumes) that claim; without, it opens 「成员管理」."""
    if ticket:
        claim_by_ticket(ticket=ticket)
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    next_page = request.GET.get("next", "")
    if not (next_page.startswith("/h5/") and url_has_allowed_host_and_scheme(next_page, allowed_hosts=None)):
        next_page = reverse("shield:h5_members")
    request.session[SESSION_LOGIN] = {"state": state, "nonce": nonce, "ticket": ticket, "next": next_page}
    return redirect(identity.authorize_url(state=state, nonce=nonce))


def h5_callback(request: HttpRequest) -> HttpResponse:
    login = request.session.pop(SESSION_LOGIN, None)
    if not login or not secrets.compare_digest(
        str(login.get("state", "")).encode(), request.GET.get("state", "").encode()
    ):
        return _refusal(request, _("登录已失效，请重新扫码"), status=400)
    try:
        person = identity.exchange(code=request.GET.get("auth_code", ""), nonce=login["nonce"])
    except (GatewayError, KeyBackendError):
        log.exception("identity exchange failed")
        return _refusal(request, _("支付宝身份确认失败，请重新扫码"), status=502)
    account = phone_account_record(identity=person)
    request.session.cycle_key()
    request.session[SESSION_ACCOUNT] = account.account
    request.session[SESSION_ACCOUNT_AT] = now().timestamp()
    if not login.get("ticket"):
        return redirect(str(login.get("next") or reverse("shield:h5_members")))
    try:
        claim_bind(ticket=login["ticket"], account=account.account)
    except ApplicationError as exc:
        return _refusal(request, exc.message, status=exc.status)
    return redirect("shield:h5_claim", ticket=login["ticket"])


def _refusal(request: HttpRequest, message: str, *, status: int) -> HttpResponse:
    return render(request, "shield/h5_refusal.html", {"message": message}, status=status)


def h5_certificate(request: HttpRequest, ticket: str, usage: str) -> HttpResponse:
    """The claimant downloads the signing or the encryption certificate (PEM) of their activated credential."""
    claim = claim_by_ticket(ticket=ticket)
    account = _account(request)
    credential = Credential.objects.filter(claim=claim).first()
    if credential is None or not account or account != claim.claimant_account or usage not in ("sign", "encrypt"):
        return _refusal(request, _("只有申领人本人可以查看证书"), status=403)
    certificate = ca_facade.certificate_pem(
        serial_hex=credential.sign_serial if usage == "sign" else credential.encrypt_serial
    )
    response = HttpResponse(certificate, content_type="application/x-pem-file")
    response["Content-Disposition"] = f'attachment; filename="{credential.service_no}-{usage}.pem"'
    return response


# --- 成员管理: the enterprise admin's pages (R3.8, R3.9) ----------------------------------------------------------


def h5_members(request: HttpRequest, error: str = "", status: int = 200) -> HttpResponse:
    """The enterprises this phone identity administers: pending requests, members, adding one by name and phone."""
    account = _account(request)
    if not account:
        return render(request, "shield/h5_members.html", {"signed_in": False})
    return render(
        request,
        "shield/h5_members.html",
        {"signed_in": True, "administered": members.administered_by(account), "error": error},
        status=status,
    )


def _admin_action(request: HttpRequest, action: Callable[[str], object]) -> HttpResponse:
    if request.method != "POST":
        return redirect("shield:h5_members")
    account = _account(request)
    if not account:
        return _refusal(request, _("请先使用支付宝登录"), status=403)
    try:
        action(account)
    except GatewayError:
        log.exception("member notice failed")
        return h5_members(request, error=_("服务暂时不可用，请稍后重试"), status=502)
    except ApplicationError as exc:
        return h5_members(request, error=exc.message, status=exc.status)
    return redirect("shield:h5_members")


def h5_member_approve(request: HttpRequest, membership_id: int) -> HttpResponse:
    return _admin_action(
        request, lambda account: members.membership_approve(admin_account=account, membership_id=membership_id)
    )


def h5_member_reject(request: HttpRequest, membership_id: int) -> HttpResponse:
    reason = request.POST.get("reason", "")
    return _admin_action(
        request,
        lambda account: members.membership_reject(admin_account=account, membership_id=membership_id, reason=reason),
    )


def h5_member_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    return _admin_action(
        request, lambda account: members.member_remove(admin_account=account, membership_id=membership_id)
    )


def h5_member_hand_over(request: HttpRequest, membership_id: int) -> HttpResponse:
    return _admin_action(
        request, lambda account: members.admin_hand_over(admin_account=account, membership_id=membership_id)
    )


def h5_member_add(request: HttpRequest, uscc: str) -> HttpResponse:
    name, phone = request.POST.get("name", ""), request.POST.get("phone", "")
    return _admin_action(
        request, lambda account: members.member_add(admin_account=account, uscc=uscc, name=name, phone=phone)
    )


# --- key use on the phone: the tool's login, authorisation requests (R4.5) ------------------------------------


def _sign_in_first(request: HttpRequest) -> HttpResponse:
    login = reverse("shield:h5_members_login") + "?" + urlencode({"next": request.get_full_path()})
    return render(request, "shield/h5_sign_in.html", {"login_url": login})


def h5_device(request: HttpRequest) -> HttpResponse:
    """The command-line tool's login, opened from its QR code: compare the code, allow or deny (RFC 8628)."""
    account = _account(request)
    if not account:
        return _sign_in_first(request)
    user_code = request.POST.get("user_code") or request.GET.get("user_code", "")
    error, status, done = "", 200, ""
    grant = None
    try:
        if request.method == "POST":
            decided = tokens.device_decide(
                user_code=user_code, account=account, allow=request.POST.get("decision") == "allow"
            )
            done = decided.status
        else:
            grant = tokens.device_grant(user_code)
    except ApplicationError as exc:
        error, status = exc.message, exc.status
    return render(
        request,
        "shield/h5_device.html",
        {"grant": grant, "done": done, "error": error, "user_code": user_code},
        status=status,
    )


def h5_authorizations(request: HttpRequest) -> HttpResponse:
    """Requests waiting for this claimant's PIN (where they are already signed in on the phone)."""
    account = _account(request)
    if not account:
        return _sign_in_first(request)
    return render(request, "shield/h5_authorizations.html", {"pending": keyuse.pending_for(account)})


@sensitive_post_parameters("pin")
def h5_authorization(request: HttpRequest, public_ref: str) -> HttpResponse:
    """One request: platform, purpose, file name, digests; the PIN authorises exactly these (SCAL2)."""
    account = _account(request)
    if not account:
        return _sign_in_first(request)
    error, status = "", 200
    try:
        authorization = keyuse.authorization_for_phone(public_ref=public_ref, account=account)
    except ApplicationError as exc:
        return _refusal(request, exc.message, status=exc.status)
    if request.method == "POST":
        try:
            if request.POST.get("decision") == "refuse":
                keyuse.refuse_on_phone(public_ref=public_ref, account=account)
            else:
                keyuse.approve_on_phone(
                    public_ref=public_ref,
                    account=account,
                    pin=request.POST.get("pin", ""),
                    address=client_address(request),
                )
            return redirect("shield:h5_authorization", public_ref=public_ref)
        except KeyBackendError:
            log.exception("key back-end failed")
            error, status = _("服务暂时不可用，请稍后重试"), 502
        except ApplicationError as exc:
            error, status = exc.message, exc.status
        authorization.refresh_from_db()
    return render(
        request,
        "shield/h5_authorization.html",
        {
            "authorization": authorization,
            "credential": authorization.credential,
            "expired": authorization.status == "pending" and now() >= authorization.request_expires_at,
            "error": error,
        },
        status=status,
    )


# --- my credentials: PIN change and reset (R4.3), operation records (R4.4) -----------------------------------


def h5_credentials(request: HttpRequest, error: str = "", status: int = 200, done: str = "") -> HttpResponse:
    account = _account(request)
    if not account:
        return _sign_in_first(request)
    credentials = Credential.objects.select_related("claim").filter(account=account).order_by("activated_at")
    return render(
        request,
        "shield/h5_credentials.html",
        {"credentials": credentials, "error": error, "done": done, "now": now()},
        status=status,
    )


@sensitive_post_parameters("old_pin", "pin", "pin_again")
def h5_pin_change(request: HttpRequest, service_no: str) -> HttpResponse:
    account = _account(request)
    if not account:
        return _sign_in_first(request)
    if request.method != "POST":
        return redirect("shield:h5_credentials")
    try:
        keyuse.pin_change(
            account=account,
            service_no=service_no,
            old_pin=request.POST.get("old_pin", ""),
            new_pin=request.POST.get("pin", ""),
            new_again=request.POST.get("pin_again", ""),
            address=client_address(request),
        )
    except ApplicationError as exc:
        return h5_credentials(request, error=exc.message, status=exc.status)
    return h5_credentials(request, done=_("PIN 码已修改"))


@sensitive_post_parameters("pin", "pin_again")
def h5_pin_reset(request: HttpRequest, service_no: str) -> HttpResponse:
    """忘记 PIN 码: POST without a check starts a face check; with a passed check, sets the new PIN."""
    account = _account(request)
    if not account:
        return _sign_in_first(request)
    check_id = request.POST.get("check_id") or request.GET.get("check_id", "")
    if request.method != "POST":
        return render(request, "shield/h5_pin_reset.html", {"service_no": service_no, "check_id": check_id})
    try:
        if not check_id:
            return redirect(keyuse.pin_reset_start(account=account, service_no=service_no))
        keyuse.pin_reset(
            account=account,
            service_no=service_no,
            check_id=check_id,
            new_pin=request.POST.get("pin", ""),
            new_again=request.POST.get("pin_again", ""),
            address=client_address(request),
        )
    except (GatewayError, KeyBackendError):
        log.exception("PIN reset failed at an external service")
        return h5_credentials(request, error=_("服务暂时不可用，请稍后重试"), status=502)
    except ApplicationError as exc:
        if check_id:
            return render(
                request,
                "shield/h5_pin_reset.html",
                {"service_no": service_no, "check_id": check_id, "error": exc.message},
                status=exc.status,
            )
        return h5_credentials(request, error=exc.message, status=exc.status)
    return h5_credentials(request, done=_("PIN 码已重置"))


def _pin_reset_return(request: HttpRequest, account: str, check_id: str) -> HttpResponse:
    try:
        service_no = keyuse.pin_reset_face_finish(check_id=check_id, account=account)
    except (GatewayError, KeyBackendError):
        log.exception("liveness result failed")
        return h5_credentials(request, error=_("服务暂时不可用，请稍后重试"), status=502)
    except ApplicationError as exc:
        return h5_credentials(request, error=exc.message, status=exc.status)
    return redirect(reverse("shield:h5_pin_reset", args=[service_no]) + "?" + urlencode({"check_id": check_id}))


def h5_records(request: HttpRequest) -> HttpResponse:
    account = _account(request)
    if not account:
        return _sign_in_first(request)
    return render(request, "shield/h5_records.html", {"rows": keyuse.records_for(account)})
