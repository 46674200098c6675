"""Alipay open platform v2 gateway (``gateway.do``), RSA2.

* Requests: every parameter but ``sign``, empty values dropped, sorted by key, joined ``k=v&…`` with raw values,
  SHA256withRSA with the app's private key.
* Responses: the signature covers the raw JSON text of ``<method>_response`` exactly as it appears in the body,
  so it is cut out of the body, never re-serialised.
* Notifications: all fields but ``sign`` and ``sign_type``, sorted, joined ``k=v&…``, verified with Alipay's public
  key. The caller then checks ``app_id``, ``seller_id``, ``out_trade_no`` and ``total_amount`` against its order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
from django.views.decorators.debug import sensitive_variables

from mobileca.core.errors import FinalGatewayError, RetryableGatewayError
from mobileca.core.inputs import BadInput, amount, load_json
from mobileca.payments.gateways.signing import BadAmount, MalformedMessage, SignatureInvalid, rsa_sign, rsa_verify

BEIJING = ZoneInfo("Asia/Shanghai")
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
PAID_STATUSES = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})


@dataclass(frozen=True)
class AlipayConfig:
    gateway_url: str
    app_id: str
    seller_id: str
    app_private_key_pem: bytes = field(repr=False)
    alipay_public_key_pem: bytes = field(repr=False)
    notify_url: str
    return_url: str = ""


@dataclass(frozen=True)
class AlipayTrade:
    out_trade_no: str
    trade_no: str
    trade_status: str
    total_amount: Decimal


class AlipayError(FinalGatewayError):
    """The gateway answered a business error (``code`` ≠ 10000)."""

    def __init__(self, code: str, sub_code: str, sub_msg: str) -> None:
        super().__init__(f"{code} {sub_code} {sub_msg}")
        self.code, self.sub_code, self.sub_msg = code, sub_code, sub_msg


def signing_string(params: Mapping[str, str]) -> str:
    return "&".join(f"{key}={params[key]}" for key in sorted(params) if key != "sign" and params[key] != "")


def notification_signing_string(form: Mapping[str, str]) -> str:
    return "&".join(f"{key}={form[key]}" for key in sorted(form) if key not in ("sign", "sign_type"))


def raw_response_text(body: str, key: str) -> str | None:
    """The exact text of the JSON object under ``key`` in ``body`` (brace-matched, strings respected)."""
    marker = f'"{key}"'
    start = body.find(marker)
    if start < 0:
        return None
    start = body.find("{", start + len(marker))
    if start < 0:
        return None
    depth, in_string, escaped = 0, False, False
    for index in range(start, len(body)):
        char = body[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return body[start : index + 1]
    return None


def _amount(value: object) -> Decimal:
    """``Number(9,2)`` exactly as Alipay documents it (``core.inputs.amount``), in an answer or a notification."""
    try:
        return amount(value)
    except BadInput as exc:
        raise BadAmount(f"total_amount {str(value)[:20]!r}") from exc


def _minutes_until(expires_at: datetime) -> str:
    """``timeout_express`` (relative, ``1m``–``15d``) beside ``time_expire`` (absolute), for the trade's expiry."""
    minutes = int((expires_at - datetime.now(UTC)).total_seconds() // 60)
    return f"{max(1, min(minutes, 15 * 24 * 60))}m"


class AlipayClient:
    def __init__(self, config: AlipayConfig, http_factory: Callable[[], httpx.Client] | None = None) -> None:
        self.config = config
        self._http_factory = http_factory or (lambda: httpx.Client(timeout=TIMEOUT))

    @cached_property
    def http(self) -> httpx.Client:
        """Made on first use: verifying a notification needs no connection."""
        return self._http_factory()

    # --- requests ---------------------------------------------------------------------------------------

    @sensitive_variables()  # a key (or what it signs with) is among the locals
    def signed_params(
        self, method: str, biz: Mapping[str, Any], *, at: datetime | None = None, return_url: str = ""
    ) -> dict[str, str]:
        params = {
            "app_id": self.config.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            # Wall clock: the gateway checks it against its own, whatever business time the platform is in.
            "timestamp": (at or datetime.now(UTC)).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
            "version": "1.0",
            "notify_url": self.config.notify_url,
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
        }
        if method == "alipay.trade.page.pay" and (return_url or self.config.return_url):
            params["return_url"] = return_url or self.config.return_url
        params["sign"] = rsa_sign(self.config.app_private_key_pem, signing_string(params).encode())
        return params

    def _call(self, method: str, biz: Mapping[str, Any]) -> dict[str, Any]:
        params = self.signed_params(method, biz)
        try:
            response = self.http.post(
                self.config.gateway_url,
                content=urlencode(params).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
            )
        except httpx.TransportError as exc:
            raise RetryableGatewayError(f"alipay {method}: {exc!r}") from exc
        if response.status_code >= 500:
            raise RetryableGatewayError(f"alipay {method}: HTTP {response.status_code}")
        body = response.text
        key = method.replace(".", "_") + "_response"
        raw = raw_response_text(body, key)
        if raw is None:
            if raw_response_text(body, "error_response") is not None:
                # Unsigned: believe nothing in it (not even a "trade does not exist") but that the call failed.
                raise FinalGatewayError(f"alipay {method}: unsigned error_response")
            raise FinalGatewayError(f"alipay {method}: no {key} in the answer")
        try:
            answer = load_json(body)
            sign = answer.get("sign", "") if isinstance(answer, dict) else ""
        except BadInput as exc:
            raise FinalGatewayError(f"alipay {method}: answer is not JSON within bounds ({exc})") from exc
        if not isinstance(sign, str):
            raise FinalGatewayError(f"alipay {method}: sign is not a string")
        rsa_verify(self.config.alipay_public_key_pem, raw.encode(), sign)
        payload = load_json(raw)  # a part of the body just read
        if not isinstance(payload, dict):
            raise MalformedMessage(f"alipay {method}: {key} is not an object")
        if payload.get("code") != "10000":
            raise AlipayError(
                str(payload.get("code")), str(payload.get("sub_code", "")), str(payload.get("sub_msg", ""))
            )
        return payload

    def precreate(self, *, out_trade_no: str, amount: Decimal, subject: str, expires_at: datetime) -> str:
        """``alipay.trade.precreate``: the QR code's content. The trade exists only once it is scanned."""
        payload = self._call(
            "alipay.trade.precreate",
            {
                "out_trade_no": out_trade_no,
                "total_amount": f"{amount:.2f}",
                "subject": subject,
                "seller_id": self.config.seller_id,
                "time_expire": expires_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
                "timeout_express": _minutes_until(expires_at),
            },
        )
        if payload.get("out_trade_no") != out_trade_no or not payload.get("qr_code"):
            raise FinalGatewayError("alipay precreate: answer for another trade or without qr_code")
        return str(payload["qr_code"])

    def page_pay_url(
        self,
        *,
        out_trade_no: str,
        amount: Decimal,
        subject: str,
        expires_at: datetime,
        return_url: str = "",
        quit_url: str = "",
    ) -> str:
        """``alipay.trade.page.pay``: the signed URL the buyer's browser is sent to. ``return_url``: where the cashier
        sends the buyer after paying (a request parameter); ``quit_url`` (a business parameter, as in the wap
        cashier): where it sends a buyer who gives up."""
        biz: dict[str, Any] = {
            "out_trade_no": out_trade_no,
            "total_amount": f"{amount:.2f}",
            "subject": subject,
            "product_code": "FAST_INSTANT_TRADE_PAY",
            "seller_id": self.config.seller_id,
            "time_expire": expires_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
            "timeout_express": _minutes_until(expires_at),
        }
        if quit_url:
            biz["quit_url"] = quit_url
        params = self.signed_params("alipay.trade.page.pay", biz, return_url=return_url)
        return f"{self.config.gateway_url}?{urlencode(params)}"

    def verify_return(self, query: Mapping[str, str]) -> dict[str, str]:
        """The synchronous return (the buyer's browser back at ``return_url``): signed like a notification."""
        return self.verify_notification(query)

    def query(self, *, out_trade_no: str) -> AlipayTrade | None:
        """``alipay.trade.query``; ``None`` while the trade does not exist (a precreated QR not yet scanned)."""
        try:
            payload = self._call("alipay.trade.query", {"out_trade_no": out_trade_no})
        except AlipayError as exc:
            if exc.sub_code == "ACQ.TRADE_NOT_EXIST":
                return None
            raise
        if payload.get("out_trade_no") != out_trade_no:
            raise FinalGatewayError("alipay query: the answer is about another trade")
        return AlipayTrade(
            out_trade_no=str(payload.get("out_trade_no", "")),
            trade_no=str(payload.get("trade_no", "")),
            trade_status=str(payload.get("trade_status", "")),
            total_amount=_amount(payload.get("total_amount")),
        )

    def close(self, *, out_trade_no: str) -> None:
        """``alipay.trade.close``. A trade never scanned does not exist; closing it still blocks later payment."""
        try:
            self._call("alipay.trade.close", {"out_trade_no": out_trade_no})
        except AlipayError as exc:
            if exc.sub_code != "ACQ.TRADE_NOT_EXIST":
                raise

    def refund(self, *, out_trade_no: str, amount: Decimal, out_request_no: str) -> dict[str, Any]:
        return self._call(
            "alipay.trade.refund",
            {"out_trade_no": out_trade_no, "refund_amount": f"{amount:.2f}", "out_request_no": out_request_no},
        )

    # --- notifications -------------------------------------------------------------------------------------

    def verify_notification(self, form: Mapping[str, str], *, charset: str = "utf-8") -> dict[str, str]:
        """Check the RSA2 signature of an asynchronous notification; return its fields.

        Alipay signs the bytes of the signing string in the notification's own ``charset`` (``utf-8`` or ``gbk``)."""
        sign = form.get("sign", "")
        if not sign or form.get("sign_type", "RSA2") != "RSA2":
            raise SignatureInvalid("notification without an RSA2 signature")
        try:
            message = notification_signing_string(form).encode(charset)
        except (UnicodeEncodeError, LookupError) as exc:
            raise SignatureInvalid(f"notification not representable in {charset!r}") from exc
        rsa_verify(self.config.alipay_public_key_pem, message, sign)
        return dict(form)
