"""``gateway.do`` and the cashier page."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from mobileca.sandboxes import common
from mobileca.sandboxes.alipay.models import Notification, Trade, TradeStatus
from mobileca.sandboxes.alipay.tasks import deliver_with_retries

BEIJING = ZoneInfo("Asia/Shanghai")
TEST_BUYERS = [("2088102100000001", "sandbox_buyer_1@example.com"), ("2088102100000002", "sandbox_buyer_2@example.com")]


def _config() -> dict[str, str]:
    config: dict[str, str] = settings.SANDBOX_ALIPAY
    return config


def _signing_string(params: dict[str, str]) -> str:
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k] != "")


def _answer(method: str, body: dict[str, Any]) -> HttpResponse:
    """Alipay's answer: the signature covers the exact text of the ``*_response`` object."""
    key = method.replace(".", "_") + "_response"
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    sign = common.sign(_config()["private_key_path"], raw.encode())
    text = f'{{"{key}":{raw},"sign":"{sign}"}}'
    return HttpResponse(text, content_type="application/json;charset=utf-8")


def _error(method: str, code: str, msg: str, sub_code: str, sub_msg: str) -> HttpResponse:
    return _answer(method, {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg})


def _biz_error(method: str, sub_code: str, sub_msg: str) -> HttpResponse:
    return _error(method, "40004", "Business Failed", sub_code, sub_msg)


def _expire(trade: Trade) -> None:
    if trade.status in (TradeStatus.PRECREATED, TradeStatus.WAIT_BUYER_PAY) and timezone.now() >= trade.time_expire:
        trade.status = TradeStatus.TRADE_CLOSED
        trade.save(update_fields=["status"])


@csrf_exempt
def gateway(request: HttpRequest) -> HttpResponse:
    params = {
        key: request.GET.get(key, "") if request.method == "GET" else request.POST.get(key, "")
        for key in (request.GET if request.method == "GET" else request.POST)
    }
    method = params.get("method", "")
    if params.get("app_id") != _config()["app_id"]:
        return _error(method, "40002", "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数")
    if params.get("sign_type") != "RSA2" or not common.verify(
        _config()["app_public_key_path"], _signing_string(params).encode(), params.get("sign", "")
    ):
        return _error(method, "40002", "Invalid Arguments", "isv.invalid-signature", "验签出错")
    try:
        datetime.strptime(params.get("timestamp", ""), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return _error(method, "40002", "Invalid Arguments", "isv.invalid-timestamp", "非法的时间戳参数")
    try:
        biz: dict[str, Any] = json.loads(params.get("biz_content") or "{}")
    except ValueError:
        return _error(method, "40002", "Invalid Arguments", "isv.invalid-biz-content", "业务参数格式错误")
    handlers = {
        "alipay.trade.precreate": _precreate,
        "alipay.trade.page.pay": _page_pay,
        "alipay.trade.query": _query,
        "alipay.trade.close": _close,
        "alipay.trade.refund": _refund,
    }
    handler = handlers.get(method)
    if handler is None:
        return _error(method or "alipay.unknown", "40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名")
    return handler(request, params, biz)


def _new_trade(params: dict[str, str], biz: dict[str, Any], status: str) -> Trade | str:
    try:
        amount = Decimal(str(biz.get("total_amount", "")))
    except InvalidOperation:
        return "ACQ.INVALID_PARAMETER"
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")) or not biz.get("out_trade_no"):
        return "ACQ.INVALID_PARAMETER"
    if biz.get("seller_id") and biz["seller_id"] != _config()["seller_id"]:
        return "ACQ.SELLER_NOT_MATCH"
    time_expire = _time_expire(biz)
    if time_expire is None:
        return "ACQ.INVALID_PARAMETER"
    existing = Trade.objects.filter(app_id=params["app_id"], out_trade_no=biz["out_trade_no"]).first()
    if existing is not None:
        if existing.total_amount != amount:
            return "ACQ.CONTEXT_INCONSISTENT"
        return existing
    return Trade.objects.create(
        app_id=params["app_id"],
        out_trade_no=biz["out_trade_no"],
        trade_no=_trade_no(),
        token=secrets.token_urlsafe(16),
        subject=str(biz.get("subject", ""))[:256],
        total_amount=amount,
        seller_id=_config()["seller_id"],
        notify_url=params.get("notify_url", ""),
        return_url=params.get("return_url", ""),
        status=status,
        time_expire=time_expire,
        created_at=timezone.now(),
    )


def _time_expire(biz: dict[str, Any]) -> datetime | None:
    """``time_expire`` (absolute) wins over ``timeout_express`` (relative: 90m, 2h, 1d); default 2 hours."""
    if biz.get("time_expire"):
        try:
            return datetime.strptime(str(biz["time_expire"]), "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
        except ValueError:
            return None
    relative = str(biz.get("timeout_express", "120m"))
    units = {"m": 60, "h": 3600, "d": 86400}
    if relative[:-1].isdigit() and relative[-1:] in units:
        return timezone.now() + timedelta(seconds=int(relative[:-1]) * units[relative[-1]])
    return None


def _trade_no() -> str:
    return (
        timezone.now().astimezone(BEIJING).strftime("%Y%m%d")
        + "2200"
        + "".join(secrets.choice("0123456789") for _ in range(16))
    )


def _cashier_url(request: HttpRequest, trade: Trade) -> str:
    return request.build_absolute_uri(reverse("sandbox_alipay:cashier", args=[trade.token]))


def _precreate(request: HttpRequest, params: dict[str, str], biz: dict[str, Any]) -> HttpResponse:
    method = "alipay.trade.precreate"
    trade = _new_trade(params, biz, TradeStatus.PRECREATED)
    if isinstance(trade, str):
        return _biz_error(method, trade, "参数有误")
    if trade.status not in (TradeStatus.PRECREATED, TradeStatus.WAIT_BUYER_PAY):
        return _biz_error(method, "ACQ.TRADE_HAS_SUCCESS" if trade.paid_at else "ACQ.TRADE_HAS_CLOSE", "交易状态不允许")
    return _answer(
        method,
        {
            "code": "10000",
            "msg": "Success",
            "out_trade_no": trade.out_trade_no,
            "qr_code": _cashier_url(request, trade),
        },
    )


def _page_pay(request: HttpRequest, params: dict[str, str], biz: dict[str, Any]) -> HttpResponse:
    trade = _new_trade(params, biz, TradeStatus.WAIT_BUYER_PAY)
    if isinstance(trade, str):
        return HttpResponse(f"支付宝沙箱：参数错误 {trade}", status=400)
    # Each page-pay request says where to send this buyer back (the trade may have been precreated for a QR code).
    return_url, quit_url = params.get("return_url", "")[:500], str(biz.get("quit_url", ""))[:500]
    if (return_url, quit_url) != (trade.return_url, trade.quit_url):
        trade.return_url, trade.quit_url = return_url, quit_url
        trade.save(update_fields=["return_url", "quit_url"])
    return HttpResponseRedirect(reverse("sandbox_alipay:cashier", args=[trade.token]) + "?via=page")


def _return_url(trade: Trade) -> str:
    """The synchronous return after a page payment: the trade's facts, signed like a notification."""
    form = {
        "app_id": trade.app_id,
        "method": "alipay.trade.page.pay.return",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": timezone.now().astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
        "version": "1.0",
        "out_trade_no": trade.out_trade_no,
        "trade_no": trade.trade_no,
        "total_amount": f"{trade.total_amount:.2f}",
        "seller_id": trade.seller_id,
    }
    signing = "&".join(f"{k}={form[k]}" for k in sorted(form) if k not in ("sign", "sign_type"))
    form["sign"] = common.sign(_config()["private_key_path"], signing.encode())
    separator = "&" if "?" in trade.return_url else "?"
    return trade.return_url + separator + urlencode(form)


def _find(params: dict[str, str], biz: dict[str, Any]) -> Trade | None:
    query = Trade.objects.filter(app_id=params["app_id"])
    if biz.get("trade_no"):
        return query.filter(trade_no=biz["trade_no"]).first()
    return query.filter(out_trade_no=biz.get("out_trade_no", "")).first()


def _query(request: HttpRequest, params: dict[str, str], biz: dict[str, Any]) -> HttpResponse:
    method = "alipay.trade.query"
    trade = _find(params, biz)
    if trade is None or trade.status == TradeStatus.PRECREATED or trade.closed_before_scan:
        return _biz_error(method, "ACQ.TRADE_NOT_EXIST", "交易不存在")
    _expire(trade)
    return _answer(
        method,
        {
            "code": "10000",
            "msg": "Success",
            "out_trade_no": trade.out_trade_no,
            "trade_no": trade.trade_no,
            "trade_status": trade.status,
            "total_amount": f"{trade.total_amount:.2f}",
            "buyer_user_id": trade.buyer_id,
        },
    )


def _close(request: HttpRequest, params: dict[str, str], biz: dict[str, Any]) -> HttpResponse:
    method = "alipay.trade.close"
    with transaction.atomic():
        trade = _find(params, biz)
        if trade is None:
            return _biz_error(method, "ACQ.TRADE_NOT_EXIST", "交易不存在")
        if trade.status == TradeStatus.PRECREATED:
            # Alipay's precreate pitfall: the close "fails" but the QR code can no longer be paid.
            trade.status, trade.closed_before_scan = TradeStatus.TRADE_CLOSED, True
            trade.save(update_fields=["status", "closed_before_scan"])
            return _biz_error(method, "ACQ.TRADE_NOT_EXIST", "交易不存在")
        if trade.status != TradeStatus.WAIT_BUYER_PAY:
            return _biz_error(method, "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        trade.status = TradeStatus.TRADE_CLOSED
        trade.save(update_fields=["status"])
    return _answer(
        method, {"code": "10000", "msg": "Success", "out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no}
    )


def _refund(request: HttpRequest, params: dict[str, str], biz: dict[str, Any]) -> HttpResponse:
    method = "alipay.trade.refund"
    with transaction.atomic():
        trade = _find(params, biz)
        if trade is None or trade.paid_at is None:
            return _biz_error(method, "ACQ.TRADE_NOT_EXIST", "交易不存在")
        try:
            amount = Decimal(str(biz.get("refund_amount", "")))
        except InvalidOperation:
            return _biz_error(method, "ACQ.INVALID_PARAMETER", "参数有误")
        if amount <= 0 or trade.refund_fee + amount > trade.total_amount:
            return _biz_error(method, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
        trade.refund_fee += amount
        full = trade.refund_fee == trade.total_amount
        if full:
            trade.status = TradeStatus.TRADE_CLOSED
        trade.save(update_fields=["refund_fee", "status"])
        _notify(trade, refund=amount, out_biz_no=str(biz.get("out_request_no", "")))
    return _answer(
        method,
        {
            "code": "10000",
            "msg": "Success",
            "out_trade_no": trade.out_trade_no,
            "trade_no": trade.trade_no,
            "fund_change": "Y",
            "refund_fee": f"{trade.refund_fee:.2f}",
        },
    )


def _notify(trade: Trade, *, refund: Decimal | None = None, out_biz_no: str = "") -> Notification:
    """A signed asynchronous notification, delivered (and retried) after the transaction commits."""
    moment = timezone.now().astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    form = {
        "notify_time": moment,
        "notify_type": "trade_status_sync",
        "notify_id": secrets.token_hex(16),
        "app_id": trade.app_id,
        "charset": "utf-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "trade_no": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        "buyer_id": trade.buyer_id,
        "seller_id": trade.seller_id,
        "trade_status": trade.status,
        "total_amount": f"{trade.total_amount:.2f}",
        "receipt_amount": f"{trade.total_amount:.2f}",
        "buyer_pay_amount": f"{trade.total_amount:.2f}",
        "subject": trade.subject,
        "gmt_create": trade.created_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
        "gmt_payment": trade.paid_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S") if trade.paid_at else "",
    }
    if refund is not None:
        form.update({"refund_fee": f"{trade.refund_fee:.2f}", "gmt_refund": moment, "out_biz_no": out_biz_no})
        if trade.status != TradeStatus.TRADE_CLOSED:
            form["trade_status"] = TradeStatus.TRADE_SUCCESS  # a partial refund reuses TRADE_SUCCESS
    form = {key: value for key, value in form.items() if value != ""}
    signing = "&".join(f"{k}={form[k]}" for k in sorted(form) if k not in ("sign", "sign_type"))
    form["sign"] = common.sign(_config()["private_key_path"], signing.encode())
    notification = Notification.objects.create(trade=trade, notify_id=form["notify_id"], form=form)
    transaction.on_commit(lambda: deliver_with_retries(notification.pk))
    return notification


def cashier(request: HttpRequest, token: str) -> HttpResponse:
    """The page a QR code leads to: opening it is "scanning"; a tester pays as a sandbox buyer or declines. Reached
    by page pay (``via=page``), paying returns the browser to the merchant's ``return_url`` and declining to its
    ``quit_url``, as Alipay's own cashier does."""
    via_page = (request.POST.get("via") or request.GET.get("via")) == "page"
    back = ""
    with transaction.atomic():
        trade = get_object_or_404(Trade.objects.select_for_update(), token=token)
        _expire(trade)
        if trade.status == TradeStatus.PRECREATED:
            trade.status = TradeStatus.WAIT_BUYER_PAY
            trade.save(update_fields=["status"])
        message = ""
        if request.method == "POST" and trade.status == TradeStatus.WAIT_BUYER_PAY:
            if request.POST.get("action") == "pay":
                buyers = dict(TEST_BUYERS)
                buyer = request.POST.get("buyer", TEST_BUYERS[0][0])
                trade.buyer_id = buyer if buyer in buyers else TEST_BUYERS[0][0]
                trade.status, trade.paid_at = TradeStatus.TRADE_SUCCESS, timezone.now()
                trade.save(update_fields=["buyer_id", "status", "paid_at"])
                _notify(trade)
                message = "支付成功"
                back = _return_url(trade) if via_page and trade.return_url else ""
            elif request.POST.get("action") == "decline":
                message = "已取消付款，交易仍可在有效期内支付"
                back = trade.quit_url if via_page else ""
    if back:
        return HttpResponseRedirect(back)
    return render(
        request,
        "sandbox_alipay/cashier.html",
        {"trade": trade, "buyers": TEST_BUYERS, "message": message, "via_page": via_page},
    )
