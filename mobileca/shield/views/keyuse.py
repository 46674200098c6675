"""Key use on the phone (R4.3–R4.5): the command-line tool's login, authorisation requests waiting for the PIN, my
credentials with PIN change and reset, and the operation records."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.db.models import Prefetch, prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from mobileca.audit.models import AuditEvent, TreeHead
from mobileca.cmslib import shown
from mobileca.core import limits
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, TooMany
from mobileca.core.http import client_address
from mobileca.core.secrecy import hide_secrets
from mobileca.shield import callers, keyuse, pin, records, rekey, renewal
from mobileca.shield.models import Credential, KeyUseStatus
from mobileca.shield.views.common import attempt, certificates_of, phone_login_required, refusal

DEVICE_CODE_TRIES_PER_ACCOUNT = "10/10m"  # a login is a look (the QR code) and a decision: five logins in ten minutes
DEVICE_CODE_TRIES_PER_ADDRESS = "30/10m"


def _count_device_code_try(request: HttpRequest, account: str) -> None:
    """Every look-up of a user code counts, right or wrong (a wrong one is refused, and must count all the same),
    per phone identity and per address, before the code is looked at: guessing codes is bounded (issue 14)."""
    message = _("登录码尝试次数过多，请稍后再试")
    limits.hit("device_user_code_account", account, DEVICE_CODE_TRIES_PER_ACCOUNT, message=message)
    limits.hit("device_user_code_address", client_address(request), DEVICE_CODE_TRIES_PER_ADDRESS, message=message)


@hide_secrets("user_code")
@phone_login_required()
def h5_device(request: HttpRequest, account: str) -> HttpResponse:
    """The command-line tool's login, opened from its QR code: compare the code, allow or deny (RFC 8628)."""
    user_code = request.POST.get("user_code") or request.GET.get("user_code", "")
    error, status, done = "", 200, ""
    grant = None
    retry_after: int | None = None
    try:
        if user_code:
            _count_device_code_try(request, account)
        if request.method == "POST":
            decided = callers.device_decide(
                user_code=user_code, account=account, allow=request.POST.get("decision") == "allow"
            )
            done = decided.status
        else:
            grant = callers.device_grant(user_code)
    except TooMany as exc:
        error, status, retry_after = exc.message, exc.status, exc.retry_after
    except ApplicationError as exc:
        error, status = exc.message, exc.status
    response = render(
        request,
        "shield/h5_device.html",
        {"grant": grant, "done": done, "error": error, "user_code": user_code},
        status=status,
    )
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@phone_login_required()
def h5_authorizations(request: HttpRequest, account: str) -> HttpResponse:
    """Requests waiting for this claimant's PIN (where they are already signed in on the phone)."""
    pending = [
        (item, shown.size_units(item.file_size) if item.file_size is not None else "")
        for item in keyuse.pending_for(account)
    ]
    return render(request, "shield/h5_authorizations.html", {"pending": pending})


@hide_secrets("pin")
@phone_login_required()
def h5_authorization(request: HttpRequest, account: str, public_ref: str) -> HttpResponse:
    """One request: platform, tender, file name and size, and the digest to compare with the bid page (the file's
    SHA-256, or its SM3 for an SM2 credential, bound to what is signed; or, from a client that sends hashes only,
    those hashes, labelled so); the PIN authorises exactly these (SCAL2). Someone else's request says whose it is,
    and nothing more."""
    try:
        authorization = keyuse.authorization_for_phone(public_ref=public_ref, account=account)
    except ApplicationError as exc:
        return refusal(request, exc.message, status=exc.status)

    def page(error: str = "", status: int = 200) -> HttpResponse:
        authorization.refresh_from_db()
        unbound = keyuse.document_problem(authorization) != ""
        size = authorization.file_size
        return render(
            request,
            "shield/h5_authorization.html",
            {
                "authorization": authorization,
                "credential": authorization.credential,
                "expired": authorization.status == KeyUseStatus.PENDING and now() >= authorization.request_expires_at,
                "error": error,
                "unbound": unbound,
                "file_digest": shown.digest_groups(authorization.file_sha256)
                if authorization.file_sha256 and not unbound
                else "",
                # the file's SM3 for an SM2 credential (GB/T 35275), its SHA-256 otherwise
                "digest_name": shown.digest_name(keyuse.key_profile_of(authorization.credential).hash_oid),
                "hashes_shown": [shown.digest_groups(base64.b64decode(value)) for value in authorization.hashes[:5]],
                "size_units": shown.size_units(size) if size is not None else "",
                "size_bytes": shown.size_bytes(size) if size is not None else "",
                # two-party SM2 (issue 20, R5.2): the page completes the phone's half; it signs only these digests
                "cosign": authorization.credential.key_custody == "split",
                "cosign_digests": [base64.b64decode(value).hex() for value in authorization.hashes]
                if authorization.operation == "sign"
                else [],
            },
            status=status,
        )

    if request.method != "POST":
        return page()

    def decide() -> HttpResponse:
        if request.POST.get("decision") == "refuse":
            keyuse.refuse_on_phone(public_ref=public_ref, account=account)
        else:
            keyuse.approve_on_phone(
                public_ref=public_ref, account=account, pin=request.POST.get("pin", ""), address=client_address(request)
            )
        return redirect("shield:h5_authorization", public_ref=public_ref)

    return attempt(decide, page)


# --- my credentials: PIN change and reset (R4.3), operation records (R4.4) -----------------------------------


def _credentials_page(
    request: HttpRequest, account: str, *, error: str = "", status: int = 200, done: str = ""
) -> HttpResponse:
    credentials = list(Credential.objects.select_related("claim").filter(account=account).order_by("activated_at"))
    return render(
        request,
        "shield/h5_credentials.html",
        {
            "credentials": [(credential, certificates_of(credential)) for credential in credentials],
            "error": error,
            "done": done,
            "now": now(),
            "pin_rules": _pin_rules(),
        },
        status=status,
    )


def _pin_rules() -> list[str]:
    """The PIN rules of ``pin.pin_problem``, stated before the PIN is typed."""
    return [
        _("6 位数字"),
        _("不能全部相同（如 111111）"),
        _("不能是连续的数字（如 123456、654321）"),
        _("连续输错 {tries} 次证书锁定 {minutes} 分钟（再错则加倍）；忘记 PIN 码可通过人脸识别重置").format(
            tries=pin.PIN_FREE_TRIES, minutes=int(pin.PIN_FIRST_LOCK.total_seconds() // 60)
        ),
    ]


@phone_login_required()
def h5_credentials(request: HttpRequest, account: str) -> HttpResponse:
    return _credentials_page(request, account)


@hide_secrets("old_pin", "pin", "pin_again")
@phone_login_required()
def h5_pin_change(request: HttpRequest, account: str, service_no: str) -> HttpResponse:
    if request.method != "POST":
        return redirect("shield:h5_credentials")

    def change() -> HttpResponse:
        pin.pin_change(
            account=account,
            service_no=service_no,
            old_pin=request.POST.get("old_pin", ""),
            new_pin=request.POST.get("pin", ""),
            new_again=request.POST.get("pin_again", ""),
            address=client_address(request),
        )
        if request.POST.get("share_missing") == "yes":  # a split credential whose half is not in this browser
            return _credentials_page(
                request,
                account,
                done=_(
                    "PIN 码已修改。但本机浏览器中没有该证书的手机端密钥，不能签名和解密；"
                    "请使用原手机，或人脸识别后「更换密钥」。"
                ),
            )
        return _credentials_page(request, account, done=_("PIN 码已修改"))

    return attempt(change, lambda message, status: _credentials_page(request, account, error=message, status=status))


@hide_secrets("pin", "pin_again")
@phone_login_required()
def h5_pin_reset(request: HttpRequest, account: str, service_no: str) -> HttpResponse:
    """忘记 PIN 码: POST without a check starts a face check; with a passed check, sets the new PIN. For a split
    credential (issue 20) this is 「更换密钥」: the page lists the bids that become unreadable, the phone page makes
    new halves, and the POST re-keys (``rekey.rekey``)."""
    check_id = request.POST.get("check_id") or request.GET.get("check_id", "")
    split = rekey.split_credential_of(account, service_no)

    def context(**extra: object) -> dict[str, object]:
        return {
            "service_no": service_no,
            "check_id": check_id,
            "pin_rules": _pin_rules(),
            "split": split is not None,
            "bids": renewal.pending_bids(split) if split is not None and check_id else [],
            **extra,
        }

    if request.method != "POST":
        return render(request, "shield/h5_pin_reset.html", context())

    def reset() -> HttpResponse:
        if not check_id:
            return redirect(pin.pin_reset_start(account=account, service_no=service_no))
        if split is not None:
            rekey.rekey(
                account=account,
                service_no=service_no,
                check_id=check_id,
                new_pin=request.POST.get("pin", ""),
                new_again=request.POST.get("pin_again", ""),
                confirmed_bids=request.POST.get("bids_confirmed") == "yes",
                address=client_address(request),
            )
            return _credentials_page(request, account, done=_("已更换密钥并设置新的 PIN 码，原证书已作废"))
        pin.pin_reset(
            account=account,
            service_no=service_no,
            check_id=check_id,
            new_pin=request.POST.get("pin", ""),
            new_again=request.POST.get("pin_again", ""),
            address=client_address(request),
        )
        return _credentials_page(request, account, done=_("PIN 码已重置"))

    def explain(message: str, status: int) -> HttpResponse:
        if check_id and status != 502:
            return render(request, "shield/h5_pin_reset.html", context(error=message), status=status)
        return _credentials_page(request, account, error=message, status=status)

    return attempt(reset, explain)


def pin_reset_return(request: HttpRequest, account: str, check_id: str) -> HttpResponse:
    """Back from a forgotten PIN's face check: on to the new PIN, with the passed check."""

    def finish() -> HttpResponse:
        service_no = pin.pin_reset_face_finish(check_id=check_id, account=account)
        return redirect(reverse("shield:h5_pin_reset", args=[service_no]) + "?" + urlencode({"check_id": check_id}))

    return attempt(finish, lambda message, status: _credentials_page(request, account, error=message, status=status))


@phone_login_required()
def h5_records(request: HttpRequest, account: str) -> HttpResponse:
    """The operation records (R4.4), each with its place in the transparency log: its leaf index and whether the
    latest signed tree head includes it, or that it waits for the sequencer (issue 15). One query for the events
    of every row (none when the rows already carry them), one for the head."""
    rows = records.records_for(account)
    prefetch_related_objects(
        [row.record for row in rows], Prefetch("audit_event", queryset=AuditEvent.objects.only("id", "leaf_index"))
    )
    head = TreeHead.objects.only("tree_size", "timestamp_ms").first()
    return render(
        request,
        "shield/h5_records.html",
        {
            "rows": [(row, _log_place(row.record.audit_event.leaf_index, head)) for row in rows],
            "head": head,
            "head_at": datetime.fromtimestamp(head.timestamp_ms / 1000, tz=UTC) if head else None,
        },
    )


def _log_place(leaf_index: int | None, head: TreeHead | None) -> str:
    """``included`` (the latest signed tree head covers the leaf), ``sequenced`` (a leaf, not yet under a signed
    head) or ``waiting`` (the sequencer has not reached the event)."""
    if leaf_index is None:
        return "waiting"
    return "included" if head is not None and leaf_index < head.tree_size else "sequenced"
