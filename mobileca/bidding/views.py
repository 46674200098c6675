"""The bidder's pages (「投标文件」): tenders, sealing a bid in the browser, the signature and the opening followed
on the page while the claimant authorises on the phone; and the tool's upload API (bearer token of the tool)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import unicodedata
from typing import Any

import segno
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from mobileca.accounts.selectors import access_enterprise_by_user
from mobileca.bidding import decrypt_tests, readiness, services, storage
from mobileca.bidding.models import Bid, BidStatus, Tender
from mobileca.bidding.upload import SealedUpload, SealingUploadHandler
from mobileca.cards.selectors import ClaimedCard, claimed_card_list_for_enterprise
from mobileca.cmslib import shown
from mobileca.core import inputs
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, InvalidInput, NotFound, TooLarge
from mobileca.core.http import client_address
from mobileca.core.middleware import refusals_answered_by
from mobileca.shield import facade as shield

log = logging.getLogger(__name__)
CHUNK = 4 * 1024 * 1024
SERVICE_NO_MAX = 40  # Bid.service_no


def _bid_of(request: HttpRequest, bid_id: int) -> Bid:
    enterprise = access_enterprise_by_user(request.user)
    bid = Bid.objects.select_related("tender").filter(pk=bid_id, enterprise=enterprise).first()
    if bid is None:
        raise NotFound(_("未找到该投标文件"), code="bid_unknown")
    return bid


@login_required
def tender_list(request: HttpRequest) -> HttpResponse:
    enterprise = access_enterprise_by_user(request.user)
    tenders = Tender.objects.order_by("-bid_deadline")[:100]
    mine = set(Bid.objects.filter(enterprise=enterprise).values_list("tender_id", flat=True))
    return render(request, "bidding/tenders.html", {"tenders": tenders, "mine": mine, "now": now()})


def _cards_with_holders(cards: list[ClaimedCard]) -> list[tuple[ClaimedCard, str]]:
    """Each card to bid with and its claimant's name (from the signing service; "" if it does not say)."""
    holders = shield.credential_holders(service_nos=[card.service_no for card in cards])
    return [(card, holders.get(card.service_no, "")) for card in cards]


@login_required
def tender_detail(request: HttpRequest, project_no: str, error: str = "", status: int = 200) -> HttpResponse:
    enterprise = access_enterprise_by_user(request.user)
    tender = services.tender_get(project_no)
    return render(
        request,
        "bidding/tender.html",
        {
            "tender": tender,
            "bids": Bid.objects.filter(tender=tender, enterprise=enterprise).order_by("-created_at"),
            "cards": _cards_with_holders(claimed_card_list_for_enterprise(enterprise_id=enterprise.pk)),
            "open_for_bids": now() < tender.bid_deadline,
            "opening": now() >= tender.opening_at,
            "error": error,
        },
        status=status,
    )


@csrf_exempt  # the upload handler must be in place before the body is read; CSRF is checked just after
@login_required
def bid_upload(request: HttpRequest, project_no: str) -> HttpResponse:
    """「上传投标文件」: the file is encrypted for the card's encryption certificate as it arrives (R5.1, R5.3)."""
    if request.method != "POST":
        return redirect("bidding:tender", project_no=project_no)
    enterprise = access_enterprise_by_user(request.user)
    tender = services.tender_get(project_no)
    try:
        recipient = services.recipient_certificate(
            enterprise=enterprise, tender=tender, cert_id=request.GET.get("card", "")
        )
    except ApplicationError as exc:
        return tender_detail(request, project_no, error=exc.message, status=exc.status)
    name = services.new_ciphertext_name(tender)
    target = storage.ciphertext_path_for(name)
    handler = SealingUploadHandler(
        recipient=recipient.certificate,
        target=target,
        request=request,
        max_bytes=services.bid_max_bytes(),
        gm_writer=recipient.gm_writer,  # an SM2 credential's bid: GB/T 35275 (issue 19)
    )
    request.upload_handlers = [handler]
    response = _sealed(request, enterprise=enterprise, tender=tender, card=recipient.card, ciphertext_name=name)
    if response.status_code == 403:  # the CSRF check refused it after the body was read: keep nothing
        target.unlink(missing_ok=True)
    elif handler.too_large:
        target.unlink(missing_ok=True)
        message = _("投标文件过大：不能超过 {limit} 字节").format(limit=services.bid_max_bytes())
        return tender_detail(request, tender.url_key, error=message, status=413)
    return response


@csrf_protect
def _sealed(request: HttpRequest, **context: object) -> HttpResponse:
    upload = request.FILES.get("bid_file")
    tender = context["tender"]
    assert isinstance(tender, Tender)
    if getattr(request.upload_handlers[0], "too_large", False):
        return HttpResponse(status=413)  # answered by bid_upload with the page and its message
    if not isinstance(upload, SealedUpload) or upload.sealed.size == 0:
        storage.ciphertext_path_for(str(context["ciphertext_name"])).unlink(missing_ok=True)
        return tender_detail(request, tender.url_key, error=_("请选择要上传的投标文件"), status=400)
    try:
        bid = services.bid_sealed_in_browser(
            user=request.user,  # type: ignore[arg-type]
            file_name=_file_name(upload.name),
            sealed=upload.sealed,
            stored=upload.stored,
            address=client_address(request),
            **context,  # type: ignore[arg-type]
        )
    except ApplicationError as exc:
        storage.ciphertext_path_for(str(context["ciphertext_name"])).unlink(missing_ok=True)
        return tender_detail(request, tender.url_key, error=exc.message, status=exc.status)
    return redirect("bidding:bid", bid_id=bid.pk)


def _file_name(name: str | None) -> str:
    """The bid file's name as shown and stored: no control characters (NUL would not store on PostgreSQL), at
    most the column's length (the end kept: it has the extension)."""
    cleaned = "".join(character for character in (name or "") if unicodedata.category(character)[0] != "C").strip()
    return (cleaned or "bid")[-services.FILE_NAME_MAX :]


@login_required
def bid_detail(request: HttpRequest, bid_id: int) -> HttpResponse:
    """The bid as it stands; while the phone is asked (signing or opening) the page follows by itself."""
    bid = _bid_of(request, bid_id)
    if bid.status == BidStatus.SIGNING and bid.channel == "browser":
        bid = services.bid_follow_signature(bid, address=client_address(request))
    elif bid.status == BidStatus.OPENING:
        bid = services.bid_follow_opening(bid, address=client_address(request))
    test = bid.decrypt_tests.first()  # the latest 「解密测试」 (issue 21)
    if test is not None and test.outcome == "pending":
        test = decrypt_tests.decrypt_test_follow(test, address=client_address(request))
    testing = test is not None and test.outcome == "pending" and bool(test.authorization_url)
    waiting = bid.status in (BidStatus.SIGNING, BidStatus.OPENING) and bid.authorization_url
    qr = segno.make(bid.authorization_url, error="m").svg_inline(scale=4, border=2) if waiting else ""
    if testing and test is not None:
        qr = segno.make(test.authorization_url, error="m").svg_inline(scale=4, border=2)
    return render(
        request,
        "bidding/bid.html",
        {
            "bid": bid,
            "qr_svg": mark_safe(qr),  # noqa: S308 - segno's SVG of our own URL
            "waiting": waiting,
            "testing": testing,
            "decrypt_test": test,
            "before_deadline": now() < bid.tender.bid_deadline,
            "readiness_checks": readiness.readiness_shown(bid),
            "demo": settings.MOBILECA_DEMO,
            "opening": now() >= bid.tender.opening_at,
            # as the phone shows them (cmslib.shown), to be compared group by group before the PIN
            "file_digest": shown.digest_groups(bid.content_digest_hex),  # SM3 for a GB/T 35275 bid
            "size_units": shown.size_units(bid.size),
            "size_bytes": shown.size_bytes(bid.size),
            "envelope_digest": shown.digest_groups(hashlib.sha256(bytes(bid.header)).digest())
            if bid.status == BidStatus.OPENING
            else "",
        },
    )


@login_required
def bid_open(request: HttpRequest, bid_id: int) -> HttpResponse:
    """「授权解密」 at the opening time (R5.2): the claimant scans and enters the PIN."""
    bid = _bid_of(request, bid_id)
    if request.method == "POST":
        try:
            services.bid_open_request(bid=bid, address=client_address(request))
        except ApplicationError as exc:
            return tender_detail(request, bid.tender.url_key, error=exc.message, status=exc.status)
    return redirect("bidding:bid", bid_id=bid.pk)


@login_required
def bid_decrypt_test(request: HttpRequest, bid_id: int) -> HttpResponse:
    """「解密测试」 before the deadline (issue 21): authorised with the PIN on the phone like the opening; nothing kept
    but the outcome, the bid's status unchanged."""
    bid = _bid_of(request, bid_id)
    if request.method == "POST":
        try:
            decrypt_tests.decrypt_test_request(bid=bid, address=client_address(request))
        except ApplicationError as exc:
            return tender_detail(request, bid.tender.url_key, error=exc.message, status=exc.status)
    return redirect("bidding:bid", bid_id=bid.pk)


# --- the tool's API (bearer token of `mobileca login`) ---------------------------------------------------------


def _tool_account(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    return (
        shield.account_for_token(token=header.removeprefix("Bearer ").strip()) if header.startswith("Bearer ") else ""
    )


def _json_error(exc: ApplicationError) -> JsonResponse:
    return JsonResponse({"error": exc.code, "error_description": exc.message}, status=exc.status)


@refusals_answered_by(_json_error)
@csrf_exempt
def api_tender(request: HttpRequest, project_no: str) -> JsonResponse:
    if not _tool_account(request):
        return JsonResponse({"error": "invalid_token", "error_description": "login with `mobileca login`"}, status=401)
    try:
        tender = services.tender_get(project_no)
    except ApplicationError as exc:
        return _json_error(exc)
    return JsonResponse(
        {
            "projectNo": tender.project_no,
            "name": tender.name,
            "bidDeadline": tender.bid_deadline.isoformat(),
            "openingAt": tender.opening_at.isoformat(),
            "open": now() < tender.bid_deadline,
        }
    )


HEADER_MAX = 64 * 1024  # the CMS envelope header: a recipient or two and the algorithm, a few hundred bytes
SIGNATURE_MAX = 256 * 1024  # the detached signature with the signer's chain


def _base64_field(body: dict[str, Any], name: str, maximum: int) -> bytes:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > maximum * 4 // 3 + 4:
        raise InvalidInput(_("字段 {name} 缺失或过长").format(name=name), code="invalid_request")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(_("字段 {name} 不是 Base64").format(name=name), code="invalid_request") from exc


def _announcement(request: HttpRequest) -> tuple[bytes, bytes, str, str, int]:
    """The tool's announcement read to its bounds (``core.inputs.load_json``: depth, NaN/Infinity, numbers past
    2^53, NUL), every field of the type and size it must be; ``InvalidInput``/``TooLarge`` otherwise."""
    try:
        raw = request.body
    except RequestDataTooBig as exc:
        raise TooLarge(detail=str(exc)) from exc
    try:
        body = inputs.load_json(raw)
    except inputs.BadInput as exc:
        raise InvalidInput(
            _("请求不是有效的 JSON（或数字超出范围、层级过深、含有不允许的字符）"),
            code="invalid_request",
            detail=str(exc),
        ) from exc
    if not isinstance(body, dict):
        raise InvalidInput(_("请求须为 JSON 对象"), code="invalid_request")
    service_no, file_name, size = body.get("credentialID"), body.get("fileName"), body.get("size")
    if not isinstance(service_no, str) or not 0 < len(service_no) <= SERVICE_NO_MAX:
        raise InvalidInput(_("字段 credentialID 无效"), code="invalid_request")
    if not isinstance(file_name, str) or not 0 < len(file_name) <= services.FILE_NAME_MAX:
        raise InvalidInput(
            _("字段 fileName 须为 1 至 {n} 个字符").format(n=services.FILE_NAME_MAX), code="invalid_request"
        )
    if isinstance(size, bool) or not isinstance(size, int):
        raise InvalidInput(_("字段 size 须为整数（字节数）"), code="bad_size")
    services.check_bid_size(size)
    header = _base64_field(body, "header", HEADER_MAX)
    signature = _base64_field(body, "signature", SIGNATURE_MAX)
    return header, signature, service_no, file_name, size


@refusals_answered_by(_json_error)
@csrf_exempt
def api_bid_announce(request: HttpRequest, project_no: str) -> JsonResponse:
    """The tool's sealed header and signature; the answer names where to stream the ciphertext."""
    account = _tool_account(request)
    if not account:
        return JsonResponse({"error": "invalid_token", "error_description": "login with `mobileca login`"}, status=401)
    if request.method != "POST":
        return JsonResponse({"error": "invalid_request", "error_description": "POST"}, status=405)
    try:
        announced = _announcement(request)
    except ApplicationError as exc:
        return _json_error(exc)
    header, signature, service_no, file_name, size = announced
    try:
        bid = services.bid_announce_from_tool(
            account=account,
            tender=services.tender_get(project_no),
            service_no=service_no,
            file_name=file_name,
            size=size,
            header=header,
            signature=signature,
        )
    except ApplicationError as exc:
        return _json_error(exc)
    return JsonResponse(
        {"bid": bid.pk, "uploadURL": request.build_absolute_uri(f"/bidding/api/bids/{bid.pk}/ciphertext")}, status=201
    )


@refusals_answered_by(_json_error)
@csrf_exempt
def api_bid_ciphertext(request: HttpRequest, bid_id: int) -> JsonResponse:
    """``PUT`` the ciphertext (``.bin``) as the request body, streamed to disk in chunks, never held in memory."""
    account = _tool_account(request)
    bid = Bid.objects.select_related("tender").filter(pk=bid_id, channel="tool", status=BidStatus.SIGNING).first()
    if not account or bid is None or shield.credential_account(service_no=bid.service_no) != account:
        return JsonResponse({"error": "not_found", "error_description": "no such bid upload"}, status=404)
    if request.method != "PUT":
        return JsonResponse({"error": "invalid_request", "error_description": "PUT"}, status=405)
    path = services.ciphertext_path(bid)
    path.parent.mkdir(parents=True, exist_ok=True)
    expected = services.ciphertext_size(bid)
    received, digest = 0, hashlib.sha256()  # the stored ciphertext's, taken as it is written (issue 21)
    try:
        sink_file = path.open("xb")
    except FileExistsError:  # another upload of this bid is under way: leave its file alone
        return JsonResponse({"error": "upload_in_progress", "error_description": "already uploading"}, status=409)
    try:
        with sink_file as sink:
            while chunk := request.read(CHUNK):
                received += len(chunk)
                if received > expected:
                    break
                digest.update(chunk)
                sink.write(chunk)
    except (OSError, IntegrityError):
        log.exception("ciphertext upload failed")
        path.unlink(missing_ok=True)
        return JsonResponse({"error": "upload_failed", "error_description": "try again"}, status=500)
    bid = services.bid_ciphertext_received(bid=bid, received=received, sha256=digest.hexdigest())
    if bid.status != BidStatus.SUBMITTED:
        return JsonResponse({"error": bid.failure_code, "error_description": bid.failure_message}, status=409)
    return JsonResponse(
        {"bid": bid.pk, "status": bid.status, "submittedAt": bid.submitted_at.isoformat() if bid.submitted_at else None}
    )
