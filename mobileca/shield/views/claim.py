"""The claim's phone pages (R2.4, R3.1–R3.10): the page a scan opens (an old QR's page explains what to do), the
Alipay login, each step of the claim as the guide draws it — 「请选择证书服务」, the agreements (readable, versioned),
the face, 「选择认证方式」 with one screen per method, 「购买成功」 then the PIN — the face check's return, the
certificates of an activated claim."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable

from django.conf import settings
from django.core.signing import BadSignature
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from mobileca.ca import facade as ca_facade
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, GatewayError, InvalidInput
from mobileca.core.http import client_address
from mobileca.core.secrecy import hide_secrets
from mobileca.shield import cosign_keys, identity, members, otp, renewal
from mobileca.shield.agreements import agreement_current, agreement_find, agreement_versions
from mobileca.shield.claims import (
    claim_accept_agreements,
    claim_activate,
    claim_bind,
    claim_choose_enterprise_service,
    claim_request_approval,
    enterprise_create,
    face_check_finish,
    face_check_start,
    phone_account_record,
)
from mobileca.shield.models import (
    ClaimSession,
    ClaimStatus,
    ClaimStep,
    Credential,
    FaceCheck,
    PhoneAccount,
    TransferStatus,
)
from mobileca.shield.otp import sms_code_resend, sms_code_send, sms_code_verify
from mobileca.shield.transfers import (
    forward_transfer_confirm,
    forward_transfer_start,
    reverse_transfer_start,
    reverse_voucher_upload,
)
from mobileca.shield.views.common import (
    SESSION_ACCOUNT,
    SESSION_ACCOUNT_AT,
    attempt,
    certificates_of,
    log,
    phone_account,
    phone_login_required,
    refusal,
    refuse_unsigned,
)
from mobileca.shield.views.keyuse import pin_reset_return
from mobileca.shield.views.revoke import revoke_return

# 「选择认证方式」 (R3.6): the choice, each way's own screen (``?method=``), and what each posts back to
VERIFY_SCREENS = ("choose", "legal_rep", "phone", "corporate", "forward", "reverse")
SERVICES = ("enterprise",)  # 「请选择证书服务」: 企业证书服务 today


def h5_claim(request: HttpRequest, ticket: str, error: str = "", status: int = 200, screen: str = "") -> HttpResponse:
    """The page a scan opens: which enterprise and platform, whether the code still works, and for the claimant,
    the step the claim stands at (R3.10: scanning again resumes there) — at enterprise verification the method
    chosen (``?method=``, or the one under way), at the PIN first 「购买成功」 then the PIN form."""
    claim = ClaimSession.objects.filter(ticket=ticket).first()
    if claim is None:
        return old_qr(request)
    if claim.status == ClaimStatus.WAITING and now() >= claim.ticket_expires_at:
        return old_qr(request, expired=True)
    return render(
        request, "shield/h5_claim.html", _claim_context(request, claim, error=error, screen=screen), status=status
    )


def old_qr(request: HttpRequest, *, expired: bool = False) -> HttpResponse:
    """An old QR's page: expired, refreshed since, or never issued — what to do, in plain words, no codes."""
    return render(request, "shield/claim/old_qr.html", {"expired": expired}, status=200 if expired else 404)


def _claim_context(request: HttpRequest, claim: ClaimSession, *, error: str, screen: str) -> dict[str, object]:
    account = phone_account(request)
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
    member_added = bool(
        membership
        and membership.role == "member"
        and membership.status == "active"
        and membership.decided_by != claim.claimant_account
    )
    certificates = certificates_of(credential) if credential else []
    moment = now()
    return {
        "claim": claim,
        "is_claimant": bool(account) and account == claim.claimant_account,
        "claimant": claimant,
        "credential": credential,
        "sms_sent": sms_sent,
        "sms_resend_in": otp.resend_in(sms_sent, moment),
        "sms_tries_left": otp.tries_left(sms_sent) if sms_sent else None,
        "sms_expired": bool(sms_sent and moment >= sms_sent.expires_at),
        "phone_tries_left": max(0, otp.PHONE_MISMATCHES_PER_CLAIM - claim.phone_mismatches),
        "transfer": transfer,
        "reverse": reverse,
        "reverse_refusals": reverse.credits.exclude(outcome="matched") if reverse else [],
        "membership": membership,
        "member_added": member_added,
        # the page follows what others do: the admin's decision, the bank's statement
        "follow": claim.step == ClaimStep.APPROVAL
        or (reverse is not None and reverse.status == TransferStatus.PENDING and reverse.voucher_uploaded_at),
        "certificates": certificates,
        "renewing": renewing,
        "renewal_bids": renewal.pending_bids(renewing) if renewing else [],
        "error": error,
        "verify_screen": _verify_screen(
            screen or request.GET.get("method", ""), sms_sent=sms_sent, transfer=transfer, reverse=reverse
        ),
        # the guide's 「购买成功」 comes before the PIN form, except for an employee the admin has just added
        "pin_screen": "pin" if screen == "pin" or member_added else "purchased",
        "agreements": [agreement_current("service"), agreement_current("privacy")],
        # two-party SM2 (issue 20): the page makes the phone's key halves before its PIN form submits
        "cosign_keygen": _cosign_keygen(claim, renewing),
    }


def _cosign_keygen(claim: ClaimSession, renewing: Credential | None) -> bool:
    """Whether the claim's PIN form (R3.7) or the renewal's 「确认续费」 (R4.5) must first make the phone's halves of
    split keys: a renewal of a split credential, or a claim whose new credential will be split (sm2 profile)."""
    if claim.step == ClaimStep.RENEWAL:
        return renewing is not None and cosign_keys.is_split(renewing)
    return (
        claim.step == ClaimStep.PIN
        and cosign_keys.split_for_new_credentials()
        and ca_facade.key_profile(settings.MOBILECA_KEY_PROFILE).family == "sm2"
    )


def _verify_screen(asked: str, *, sms_sent: object, transfer: object, reverse: object) -> str:
    """The screen asked for; without one, the method already under way (a transfer, a code sent), else the choice."""
    if asked in VERIFY_SCREENS:
        return asked
    if transfer is not None:
        return "forward"
    if reverse is not None:
        return "reverse"
    if sms_sent is not None:
        return "phone"
    return "choose"


def _explained_on(request: HttpRequest, ticket: str, screen: str) -> Callable[[str, int], HttpResponse]:
    return lambda message, status: h5_claim(request, ticket, error=message, status=status, screen=screen)


def _step(request: HttpRequest, ticket: str, action: Callable[[str], object], *, screen: str = "") -> HttpResponse:
    """Run one claim step for the signed-in claimant, then show where the claim stands (a refusal on the screen the
    form was on)."""
    if request.method != "POST":
        return redirect("shield:h5_claim", ticket=ticket)
    return _signed_in_step(request, ticket, action, screen)


@phone_login_required(refuse_unsigned)
def _signed_in_step(
    request: HttpRequest, account: str, ticket: str, action: Callable[[str], object], screen: str
) -> HttpResponse:
    def run() -> HttpResponse:
        outcome = action(account)
        if isinstance(outcome, HttpResponse):
            return outcome
        page = reverse("shield:h5_claim", args=[ticket])
        return redirect(f"{page}?method={screen}" if screen in VERIFY_SCREENS else page)

    return attempt(run, _explained_on(request, ticket, screen))


def h5_service(request: HttpRequest, ticket: str) -> HttpResponse:
    """「请选择证书服务」 → 「立即申领」 (R3.2): the one service listed today is chosen unless another is named."""

    def choose(account: str) -> object:
        if request.POST.get("service", "enterprise") not in SERVICES:
            raise InvalidInput(_("请选择证书服务"), code="service_unknown")
        return claim_choose_enterprise_service(ticket=ticket, account=account)

    return _step(request, ticket, choose)


def h5_enterprise(request: HttpRequest, ticket: str) -> HttpResponse:
    name = request.POST.get("organisation_name", "")
    return _step(
        request, ticket, lambda account: enterprise_create(ticket=ticket, account=account, organisation_name=name)
    )


def h5_face(request: HttpRequest, ticket: str) -> HttpResponse:
    """「开始人脸识别」: off to the liveness provider (R3.5)."""
    return _step(request, ticket, lambda account: redirect(face_check_start(ticket=ticket, account=account)))


def h5_legal_rep_face(request: HttpRequest, ticket: str) -> HttpResponse:
    """法定代表人认证 → 人脸认证: the claimant, who must be the registered legal representative, faces again (R3.6)."""
    return _step(
        request,
        ticket,
        lambda account: redirect(face_check_start(ticket=ticket, account=account, purpose="legal_rep")),
        screen="legal_rep",
    )


@hide_secrets("phone")
def h5_sms_send(request: HttpRequest, ticket: str) -> HttpResponse:
    """手机号认证 (R3.6): 「发送验证码」 to the legal representative's phone as typed (it must be the registry's), or
    「重新发送」 to the number already confirmed."""
    phone, resend = request.POST.get("phone", ""), request.POST.get("resend") == "yes"

    def send(account: str) -> object:
        if resend:
            return sms_code_resend(ticket=ticket, account=account)
        return sms_code_send(ticket=ticket, account=account, phone=phone)

    return _step(request, ticket, send, screen="phone")


@hide_secrets("code")
def h5_sms_verify(request: HttpRequest, ticket: str) -> HttpResponse:
    code = request.POST.get("code", "")
    return _step(
        request,
        ticket,
        lambda account: sms_code_verify(ticket=ticket, account=account, code=code),
        screen="phone",
    )


def _corporate_account_fields(request: HttpRequest) -> dict[str, str]:
    return {key: request.POST.get(key, "") for key in ("bank_name", "account_name", "account_no")}


@hide_secrets("account_no")
def h5_transfer_start(request: HttpRequest, ticket: str) -> HttpResponse:
    """对公打款认证 → 正向打款: the corporate account; the service pays a small amount into it (R3.6)."""
    fields = _corporate_account_fields(request)
    return _step(
        request,
        ticket,
        lambda account: forward_transfer_start(ticket=ticket, account=account, **fields),
        screen="forward",
    )


@hide_secrets("amount")
def h5_transfer_confirm(request: HttpRequest, ticket: str) -> HttpResponse:
    amount = request.POST.get("amount", "")
    return _step(
        request,
        ticket,
        lambda account: forward_transfer_confirm(ticket=ticket, account=account, amount=amount),
        screen="forward",
    )


@hide_secrets("account_no")
def h5_reverse_start(request: HttpRequest, ticket: str) -> HttpResponse:
    """对公打款认证 → 反向打款: the paying corporate account; the service shows where to pay and the memo (R3.6)."""
    fields = _corporate_account_fields(request)
    return _step(
        request,
        ticket,
        lambda account: reverse_transfer_start(ticket=ticket, account=account, **fields),
        screen="reverse",
    )


def h5_reverse_voucher(request: HttpRequest, ticket: str) -> HttpResponse:
    def upload(account: str) -> object:
        voucher = request.FILES.get("voucher")
        if voucher is None:
            raise InvalidInput(_("请选择要上传的凭证文件"), code="voucher_empty")
        return reverse_voucher_upload(ticket=ticket, account=account, upload=voucher)

    return _step(request, ticket, upload, screen="reverse")


@hide_secrets("pin")
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


@hide_secrets("pin", "pin_again")
def h5_pin(request: HttpRequest, ticket: str) -> HttpResponse:
    """「设置PIN码」: the form, its rules stated up front (GET); the 6-digit PIN twice → 「开通成功」 (POST, R3.7)."""
    if request.method != "POST":
        return h5_claim(request, ticket, screen="pin")
    pin, again = request.POST.get("pin", ""), request.POST.get("pin_again", "")
    address = client_address(request)
    return _step(
        request,
        ticket,
        lambda account: claim_activate(ticket=ticket, account=account, pin=pin, pin_again=again, address=address),
        screen="pin",
    )


def h5_agreements(request: HttpRequest, ticket: str) -> HttpResponse:
    """「确认」: the agreements accepted, in the versions the page showed (R3.4)."""
    shown = {
        "service_agreement_version": request.POST.get("service_agreement_version", ""),
        "privacy_policy_version": request.POST.get("privacy_policy_version", ""),
    }

    def accept(account: str) -> object:
        if request.POST.get("agree") != "yes":
            raise InvalidInput(_("请阅读并同意《e签盾服务协议》《隐私政策》"), code="agreements_not_accepted")
        return claim_accept_agreements(ticket=ticket, account=account, **shown)

    return _step(request, ticket, accept)


def h5_agreement(request: HttpRequest, name: str, version: str | None = None) -> HttpResponse:
    """《e签盾服务协议》 or 《隐私政策》 to read: the version in force or the one named, its number and date."""
    text = agreement_find(name, version)
    if text is None:
        return refusal(request, _("未找到该协议或该版本"), status=404)
    return render(
        request,
        "shield/agreements/page.html",
        {"text": text, "versions": agreement_versions(name), "current": agreement_current(name)},
    )


def h5_face_return(request: HttpRequest) -> HttpResponse:
    """Back from the liveness provider: the claim's face check, a forgotten PIN's, or a revocation's."""
    account = phone_account(request)
    check = FaceCheck.objects.select_related("claim").filter(check_id=request.GET.get("check_id", "")).first()
    if not account or check is None or check.account != account:
        return refusal(request, _("登录已失效，请重新扫码"), status=400)
    if check.purpose == "pin_reset":
        return pin_reset_return(request, account, check.check_id)
    if check.purpose == "revoke":  # issue 21: on to the revocation page, which records the result
        return revoke_return(request, account, check.check_id)
    ticket = check.claim.ticket

    def finish() -> HttpResponse:
        face_check_finish(check_id=check.check_id, account=account)
        return redirect("shield:h5_claim", ticket=ticket)

    return attempt(finish, _explained_on(request, ticket, "legal_rep" if check.purpose == "legal_rep" else ""))


LOGIN_COOKIE = "shield_login"
LOGIN_COOKIE_SALT = "mobileca.shield.login"
LOGIN_SECONDS = 10 * 60  # from 「支付宝登录」 to the provider's answer


@hide_secrets()
def h5_login(request: HttpRequest, ticket: str = "") -> HttpResponse:
    """「支付宝登录」: off to the identity provider, with a state and a nonce this browser alone knows. With a ticket
    the login binds (or resumes) that claim; without, it opens 「成员管理」.

    The login under way is kept in a signed, short-lived cookie, not in a session: anyone may open this address any
    number of times, and a session row for each would let them fill the database (issue 14). The session is made
    when the provider's answer comes back and the person is known."""
    if ticket and not ClaimSession.objects.filter(ticket=ticket).exists():
        return old_qr(request)
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    next_page = request.GET.get("next", "")
    if not (next_page.startswith("/h5/") and url_has_allowed_host_and_scheme(next_page, allowed_hosts=None)):
        next_page = reverse("shield:h5_members")
    response = redirect(identity.authorize_url(state=state, nonce=nonce))
    response.set_signed_cookie(
        LOGIN_COOKIE,
        json.dumps({"state": state, "nonce": nonce, "ticket": ticket, "next": next_page}),
        salt=LOGIN_COOKIE_SALT,
        max_age=LOGIN_SECONDS,
        path=reverse("shield:h5_callback"),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",  # the provider sends the phone back with a top-level GET
    )
    return response


def _login_under_way(request: HttpRequest) -> dict[str, str] | None:
    try:
        signed = request.get_signed_cookie(LOGIN_COOKIE, salt=LOGIN_COOKIE_SALT, max_age=LOGIN_SECONDS)
        login = json.loads(signed or "")
    except (KeyError, BadSignature, ValueError):
        return None
    if not isinstance(login, dict) or not all(isinstance(login.get(key), str) for key in ("state", "nonce")):
        return None
    return {key: str(login.get(key) or "") for key in ("state", "nonce", "ticket", "next")}


@hide_secrets("auth_code", "state")
def h5_callback(request: HttpRequest) -> HttpResponse:
    login = _login_under_way(request)
    if not login or not secrets.compare_digest(login["state"].encode(), request.GET.get("state", "").encode()):
        return _forget_login(refusal(request, _("登录已失效，请重新扫码"), status=400))
    try:
        person = identity.exchange(code=request.GET.get("auth_code", ""), nonce=login["nonce"])
    except GatewayError:
        log.exception("identity exchange failed")
        return _forget_login(refusal(request, _("支付宝身份确认失败，请重新扫码"), status=502))
    account = phone_account_record(identity=person)
    request.session.cycle_key()
    request.session[SESSION_ACCOUNT] = account.account
    request.session[SESSION_ACCOUNT_AT] = now().timestamp()
    if not login["ticket"]:
        return _forget_login(redirect(login["next"] or reverse("shield:h5_members")))
    try:
        claim_bind(ticket=login["ticket"], account=account.account)
    except ApplicationError as exc:
        return _forget_login(refusal(request, exc.message, status=exc.status))
    return _forget_login(redirect("shield:h5_claim", ticket=login["ticket"]))


def _forget_login(response: HttpResponse) -> HttpResponse:
    """The login's cookie is used once."""
    response.delete_cookie(LOGIN_COOKIE, path=reverse("shield:h5_callback"), samesite="Lax")
    return response


def h5_certificate(request: HttpRequest, ticket: str, usage: str) -> HttpResponse:
    """The claimant downloads the signing or the encryption certificate (PEM) of their activated credential."""
    claim = ClaimSession.objects.filter(ticket=ticket).first()
    if claim is None:
        return old_qr(request)
    account = phone_account(request)
    credential = Credential.objects.filter(claim=claim).first()
    if credential is None or not account or account != claim.claimant_account or usage not in ("sign", "encrypt"):
        return refusal(request, _("只有申领人本人可以查看证书"), status=403)
    certificate = ca_facade.certificate_pem(
        serial_hex=credential.sign_serial if usage == "sign" else credential.encrypt_serial
    )
    response = HttpResponse(certificate, content_type="application/x-pem-file")
    response["Content-Disposition"] = f'attachment; filename="{credential.service_no}-{usage}.pem"'
    return response
