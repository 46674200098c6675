"""Gateway notification endpoints. No session, no CSRF: the signature is the authentication.

These views read their raw body themselves (``@own_boundary``): what Django would refuse before any view with its
own English 400 page (a body past ``DATA_UPLOAD_MAX_MEMORY_SIZE``, too many fields, a form that is not UTF-8, a
multipart body without a boundary) is answered here in the gateway's format and recorded as a refused notification,
like a forged one. Alipay may send its form in ``gbk`` (its ``charset`` parameter): it is decoded, not refused.
"""

from __future__ import annotations

import io
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from mobileca.core.middleware import own_boundary
from mobileca.orders.models import PaymentChannel
from mobileca.payments.notifications import (
    NotificationResult,
    Refusal,
    alipay_notification_receive,
    notification_refuse_unread,
    wechatpay_notification_receive,
)

DEFAULT_MAX_BODY = 2_621_440  # Django's default DATA_UPLOAD_MAX_MEMORY_SIZE, when a deployment lifts the limit
# The charsets Alipay documents for its ``charset`` parameter (and the superset GB 18030).
ALIPAY_CHARSETS = {"utf-8": "utf-8", "utf8": "utf-8", "gbk": "gbk", "gb2312": "gbk", "gb18030": "gb18030"}


class Unread(Exception):
    """The body could not be read as a notification; ``reason`` is the refusal recorded."""

    def __init__(self, reason: Refusal, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _remote(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))


def _raw_body(request: HttpRequest) -> bytes:
    """The body, read from the stream up to the upload limit (never ``request.body``, which refuses before reading
    anything we could record); ``Unread`` past the limit, with what was read."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or DEFAULT_MAX_BODY
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise Unread(Refusal.TOO_LARGE, raw[:4000].decode("utf-8", errors="replace"))
    return raw


def _form_pairs(raw: bytes, max_fields: int | None) -> list[tuple[bytes, bytes]]:
    """``k=v&…`` as bytes, percent- and plus-decoded; the charset is applied once it is known."""
    parts = [part for part in raw.split(b"&") if part]
    if max_fields is not None and len(parts) > max_fields:
        raise Unread(Refusal.TOO_MANY_FIELDS, f"{len(parts)} fields")
    pairs = []
    for part in parts:
        key, _, value = part.partition(b"=")
        pairs.append((unquote_to_bytes(key.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" "))))
    return pairs


def _charset_of(content_type_params: dict[str, str], pairs: list[tuple[bytes, bytes]]) -> str:
    declared = [value for key, value in pairs if key == b"charset"]
    name = declared[-1].decode("ascii", errors="replace") if declared else content_type_params.get("charset", "")
    charset = ALIPAY_CHARSETS.get(name.strip().lower() or "utf-8")
    if charset is None:
        raise Unread(Refusal.UNREADABLE, f"charset {name[:20]!r}")
    return charset


def _alipay_form(request: HttpRequest, raw: bytes) -> tuple[dict[str, str], str]:
    """The notification's fields and the charset they were decoded from. Alipay posts
    ``application/x-www-form-urlencoded``; multipart is read too, as Django would have."""
    max_fields = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    content_type = request.content_type or "application/x-www-form-urlencoded"
    if content_type == "application/x-www-form-urlencoded":
        pairs = _form_pairs(raw, max_fields)
        charset = _charset_of(request.content_params or {}, pairs)
        try:
            decoded = [(key.decode(charset), value.decode(charset)) for key, value in pairs]
        except UnicodeDecodeError as exc:
            raise Unread(Refusal.UNREADABLE, f"not {charset}") from exc
    elif content_type == "multipart/form-data":
        charset = "utf-8"
        try:
            parser = MultiPartParser(request.META, io.BytesIO(raw), request.upload_handlers, charset)
            post, files = parser.parse()
        except (TooManyFieldsSent, TooManyFilesSent) as exc:
            raise Unread(Refusal.TOO_MANY_FIELDS, str(exc)) from exc
        except (MultiPartParserError, SuspiciousOperation, RequestDataTooBig, UnicodeDecodeError) as exc:
            raise Unread(Refusal.UNREADABLE, str(exc)) from exc
        if files:
            raise Unread(Refusal.UNREADABLE, "files in a notification")
        decoded = [(key, value) for key, values in post.lists() for value in values]
    else:
        raise Unread(Refusal.UNREADABLE, f"content type {content_type[:40]!r}")
    form = dict(decoded)
    if len(form) != len(decoded):
        raise Unread(Refusal.UNREADABLE, "a field given twice")  # which one would the signature cover?
    return form, charset


@own_boundary  # every refusal is answered in the gateway's format and recorded
@csrf_exempt
@require_POST
def alipay(request: HttpRequest) -> HttpResponse:
    """Reply exactly ``success`` once the notification is stored (or was already); anything else makes Alipay retry."""
    result: NotificationResult
    raw = b""
    try:
        raw = _raw_body(request)
        form, charset = _alipay_form(request, raw)
    except Unread as unread:
        result = notification_refuse_unread(
            channel=PaymentChannel.ALIPAY,
            reason=unread.reason,
            body=str(unread) if unread.reason == Refusal.TOO_LARGE else raw.decode("utf-8", errors="replace"),
            remote_addr=_remote(request),
        )
    else:
        result = alipay_notification_receive(form=form, remote_addr=_remote(request), charset=charset)
    return HttpResponse("success" if result.accepted else "failure", content_type="text/plain")


@own_boundary
@csrf_exempt
@require_POST
def wechatpay(request: HttpRequest) -> HttpResponse:
    """204 once stored; a refusal is a 4xx with WeChat's ``{"code": "FAIL", …}`` so the gateway retries."""
    headers = {key: value for key, value in request.headers.items()}
    try:
        body = _raw_body(request)
    except Unread as unread:
        notification_refuse_unread(
            channel=PaymentChannel.WECHAT,
            reason=unread.reason,
            body=str(unread),
            remote_addr=_remote(request),
            headers=headers,
        )
        return JsonResponse({"code": "FAIL", "message": "失败"}, status=413)
    result = wechatpay_notification_receive(headers=headers, body=body, remote_addr=_remote(request))
    if result.accepted:
        return HttpResponse(status=204)
    return JsonResponse({"code": "FAIL", "message": "失败"}, status=401 if result.unauthenticated else 400)
