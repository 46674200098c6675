"""APIv3 endpoints (``/v3/pay/transactions/…``) and the cashier page."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from mobileca.sandboxes.wechatpay.models import Callback, Refund, Trade, TradeState
from mobileca.sandboxes.wechatpay.signing import check_authorization, config, encrypt_resource, signed_headers
from mobileca.sandboxes.wechatpay.tasks import deliver_with_retries

BEIJING = ZoneInfo("Asia/Shanghai")
TEST_PAYERS = ["oSandboxPayer0000000000000001", "oSandboxPayer0000000000000002"]


def _signed(status: int, payload: dict[str, Any] | None = None) -> HttpResponse:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() if payload is not None else b""
    response = HttpResponse(body, status=status, content_type="application/json")
    for key, value in signed_headers(body).items():
        response[key] = value
    return response


def _error(status: int, code: str, message: str) -> HttpResponse:
    return _signed(status, {"code": code, "message": message})


def _authorised(request: HttpRequest) -> HttpResponse | None:
    # The path as sent, as WeChat Pay verifies it (the sandbox happens to live under a prefix; real WeChat Pay's
    # paths start at /v3).
    path = request.get_full_path()
    reason = check_authorization(request.headers.get("Authorization", ""), request.method or "", path, request.body)
    return _error(401, "SIGN_ERROR", reason) if reason else None


def _expire(trade: Trade) -> None:
    if trade.state == TradeState.NOTPAY and timezone.now() >= trade.time_expire:
        trade.state = TradeState.CLOSED
        trade.save(update_fields=["state"])


@csrf_exempt
def native(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _error(405, "METHOD_NOT_ALLOWED", "请求方法错误")
    refused = _authorised(request)
    if refused:
        return refused
    try:
        data: dict[str, Any] = json.loads(request.body)
        total = int(data["amount"]["total"])
        out_trade_no, description = str(data["out_trade_no"]), str(data["description"])
        time_expire = datetime.fromisoformat(data["time_expire"]) if data.get("time_expire") else None
    except (KeyError, TypeError, ValueError):
        return _error(400, "PARAM_ERROR", "参数错误")
    if data.get("mchid") != config()["mchid"] or data.get("appid") != config()["appid"]:
        return _error(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
    if total <= 0 or data["amount"].get("currency", "CNY") != "CNY" or not 6 <= len(out_trade_no) <= 32:
        return _error(400, "PARAM_ERROR", "参数错误")
    trade = Trade.objects.filter(mchid=data["mchid"], out_trade_no=out_trade_no).first()
    if trade is None:
        trade = Trade.objects.create(
            mchid=data["mchid"],
            appid=data["appid"],
            out_trade_no=out_trade_no,
            transaction_id=_transaction_id(),
            token=secrets.token_urlsafe(16),
            description=description[:127],
            amount_total=total,
            notify_url=str(data.get("notify_url", "")),
            time_expire=time_expire or timezone.now() + timedelta(hours=2),
            created_at=timezone.now(),
        )
    elif trade.amount_total != total:
        return _error(400, "INVALID_REQUEST", "订单参数与原订单不一致")
    elif trade.state != TradeState.NOTPAY:
        return _error(400, "ORDERPAID" if trade.state == TradeState.SUCCESS else "ORDER_CLOSED", "订单状态不允许")
    code_url = request.build_absolute_uri(reverse("sandbox_wechatpay:cashier", args=[trade.token]))
    return _signed(200, {"code_url": code_url})


def _transaction_id() -> str:
    return (
        "4200"
        + timezone.now().astimezone(BEIJING).strftime("%Y%m%d")
        + "".join(secrets.choice("0123456789") for _ in range(18))
    )


def _transaction_json(trade: Trade) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "appid": trade.appid,
        "mchid": trade.mchid,
        "out_trade_no": trade.out_trade_no,
        "trade_state": trade.state,
        "trade_state_desc": trade.get_state_display(),
        "amount": {"total": trade.amount_total, "currency": "CNY"},
    }
    if trade.state == TradeState.SUCCESS:
        payload.update(
            {
                "transaction_id": trade.transaction_id,
                "trade_type": "NATIVE",
                "bank_type": "OTHERS",
                "success_time": trade.success_time.astimezone(BEIJING).isoformat(timespec="seconds")
                if trade.success_time
                else "",
                "payer": {"openid": trade.payer_openid},
                "amount": {
                    "total": trade.amount_total,
                    "payer_total": trade.amount_total,
                    "currency": "CNY",
                    "payer_currency": "CNY",
                },
            }
        )
    return payload


@csrf_exempt
def by_out_trade_no(request: HttpRequest, out_trade_no: str) -> HttpResponse:
    refused = _authorised(request)
    if refused:
        return refused
    if request.GET.get("mchid") != config()["mchid"]:
        return _error(400, "PARAM_ERROR", "mchid 参数错误")
    trade = Trade.objects.filter(mchid=config()["mchid"], out_trade_no=out_trade_no).first()
    if trade is None:
        return _error(404, "ORDER_NOT_EXIST", "订单不存在")
    _expire(trade)
    return _signed(200, _transaction_json(trade))


@csrf_exempt
def close(request: HttpRequest, out_trade_no: str) -> HttpResponse:
    refused = _authorised(request)
    if refused:
        return refused
    with transaction.atomic():
        trade = Trade.objects.select_for_update().filter(mchid=config()["mchid"], out_trade_no=out_trade_no).first()
        if trade is None:
            return _error(404, "ORDER_NOT_EXIST", "订单不存在")
        if trade.state == TradeState.SUCCESS:
            return _error(400, "ORDERPAID", "订单已支付")
        trade.state = TradeState.CLOSED
        trade.save(update_fields=["state"])
    return _signed(204)


def _refund_json(refund: Refund) -> dict[str, Any]:
    trade = refund.trade
    return {
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": trade.transaction_id,
        "out_trade_no": trade.out_trade_no,
        "channel": "ORIGINAL",
        "status": "SUCCESS",
        "success_time": refund.created_at.astimezone(BEIJING).isoformat(timespec="seconds"),
        "create_time": refund.created_at.astimezone(BEIJING).isoformat(timespec="seconds"),
        "amount": {
            "refund": refund.amount,
            "total": trade.amount_total,
            "currency": "CNY",
            "payer_refund": refund.amount,
        },
    }


@csrf_exempt
def refunds(request: HttpRequest) -> HttpResponse:
    """``POST /v3/refund/domestic/refunds``: refund a paid trade (in full or in part); the same out_refund_no is the
    same refund. A signed ``REFUND.SUCCESS`` callback follows (its resource carries no appid)."""
    if request.method != "POST":
        return _error(405, "METHOD_NOT_ALLOWED", "请求方法错误")
    refused = _authorised(request)
    if refused:
        return refused
    try:
        data: dict[str, Any] = json.loads(request.body)
        out_trade_no, out_refund_no = str(data["out_trade_no"]), str(data["out_refund_no"])
        amount = int(data["amount"]["refund"])
        total = int(data["amount"]["total"])
    except (KeyError, TypeError, ValueError):
        return _error(400, "PARAM_ERROR", "参数错误")
    with transaction.atomic():
        existing = Refund.objects.select_related("trade").filter(out_refund_no=out_refund_no).first()
        if existing is not None:
            return _signed(200, _refund_json(existing))
        trade = Trade.objects.select_for_update().filter(mchid=config()["mchid"], out_trade_no=out_trade_no).first()
        if trade is None or trade.state != TradeState.SUCCESS:
            return _error(404, "RESOURCE_NOT_EXISTS", "订单不存在或未支付")
        refunded = sum(trade.refunds.values_list("amount", flat=True))
        if total != trade.amount_total or not 0 < amount <= trade.amount_total - refunded:
            return _error(400, "INVALID_REQUEST", "退款金额超限")
        refund = Refund.objects.create(
            trade=trade,
            out_refund_no=out_refund_no,
            refund_id="50" + secrets.token_hex(14)[:26],
            amount=amount,
            created_at=timezone.now(),
        )
        resource = {
            "mchid": trade.mchid,
            "out_trade_no": trade.out_trade_no,
            "transaction_id": trade.transaction_id,
            "out_refund_no": out_refund_no,
            "refund_id": refund.refund_id,
            "refund_status": "SUCCESS",
            "success_time": refund.created_at.astimezone(BEIJING).isoformat(timespec="seconds"),
            "amount": {"total": trade.amount_total, "refund": amount, "payer_total": trade.amount_total,
                       "payer_refund": amount},
        }  # fmt: skip
        _send(trade, "REFUND.SUCCESS", "退款成功", resource)
    return _signed(200, _refund_json(refund))


def _send(trade: Trade, event_type: str, summary: str, resource: dict[str, Any]) -> Callback:
    event_id = secrets.token_hex(18)
    body = {
        "id": event_id,
        "create_time": timezone.now().astimezone(BEIJING).isoformat(timespec="seconds"),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": encrypt_resource(json.dumps(resource, ensure_ascii=False).encode()),
    }
    callback = Callback.objects.create(trade=trade, event_id=event_id, body=json.dumps(body, ensure_ascii=False))
    transaction.on_commit(lambda: deliver_with_retries(callback.pk))
    return callback


def _callback(trade: Trade) -> Callback:
    return _send(trade, "TRANSACTION.SUCCESS", "支付成功", _transaction_json(trade))


def cashier(request: HttpRequest, token: str) -> HttpResponse:
    """Opening the page is "scanning" the Native QR code; a tester pays as a sandbox payer or declines."""
    message = ""
    with transaction.atomic():
        trade = get_object_or_404(Trade.objects.select_for_update(), token=token)
        _expire(trade)
        if request.method == "POST" and trade.state == TradeState.NOTPAY:
            if request.POST.get("action") == "pay":
                payer = request.POST.get("payer", TEST_PAYERS[0])
                trade.payer_openid = payer if payer in TEST_PAYERS else TEST_PAYERS[0]
                trade.state, trade.success_time = TradeState.SUCCESS, timezone.now()
                trade.save(update_fields=["payer_openid", "state", "success_time"])
                _callback(trade)
                message = "支付成功"
            elif request.POST.get("action") == "decline":
                message = "已取消支付，订单仍可在有效期内支付"
    return render(
        request,
        "sandbox_wechatpay/cashier.html",
        {"trade": trade, "payers": TEST_PAYERS, "message": message, "amount": f"{trade.amount_total / 100:.2f}"},
    )
