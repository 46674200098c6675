"""WeChat Pay APIv3, Native pay, public-key mode.

* Requests: ``METHOD\\nPATH?QUERY\\ntimestamp\\nnonce\\nbody\\n`` signed SHA256withRSA with the merchant key, sent as
  ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid=…,nonce_str=…,signature=…,timestamp=…,serial_no=…``.
* Responses and callbacks: ``timestamp\\nnonce\\nraw body\\n`` verified with the WeChat Pay public key named by
  ``Wechatpay-Serial`` (``PUB_KEY_ID_…``), the timestamp within five minutes. The raw body is verified as received.
* Callback ``resource``: AEAD_AES_256_GCM with the APIv3 key, ``nonce`` and ``associated_data``.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
from django.views.decorators.debug import sensitive_variables

from mobileca.core.errors import FinalGatewayError, RetryableGatewayError
from mobileca.core.inputs import MAX_JSON_INT, BadInput, load_json
from mobileca.payments.gateways.signing import (
    BadAmount,
    MalformedMessage,
    SignatureInvalid,
    StaleMessage,
    aes_gcm_decrypt,
    rsa_sign,
    rsa_verify,
)

BEIJING = ZoneInfo("Asia/Shanghai")
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
TIMESTAMP_WINDOW_SECONDS = 300


@dataclass(frozen=True)
class WeChatPayConfig:
    base_url: str
    mchid: str
    appid: str
    merchant_serial_no: str
    merchant_private_key_pem: bytes = field(repr=False)
    wechatpay_public_key_pem: bytes = field(repr=False)
    wechatpay_public_key_id: str
    apiv3_key: bytes = field(repr=False)
    notify_url: str


@dataclass(frozen=True)
class WeChatTrade:
    out_trade_no: str
    transaction_id: str
    trade_state: str
    amount_total: int  # fen
    currency: str
    mchid: str
    appid: str


class WeChatPayError(FinalGatewayError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code} {message}")
        self.status, self.code, self.message = status, code, message


def request_message(method: str, path: str, timestamp: str, nonce: str, body: str) -> bytes:
    return f"{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n".encode()


def response_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    return timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"


class WeChatPayClient:
    def __init__(self, config: WeChatPayConfig, http_factory: Callable[[], httpx.Client] | None = None) -> None:
        self.config = config
        self._http_factory = http_factory or (lambda: httpx.Client(timeout=TIMEOUT))

    @cached_property
    def http(self) -> httpx.Client:
        """Made on first use: verifying a notification needs no connection."""
        return self._http_factory()

    @sensitive_variables()  # a key (or what it signs with) is among the locals
    def authorization(self, method: str, path: str, body: str) -> str:
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        signature = rsa_sign(
            self.config.merchant_private_key_pem, request_message(method, path, timestamp, nonce, body)
        )
        return (
            f'WECHATPAY2-SHA256-RSA2048 mchid="{self.config.mchid}",nonce_str="{nonce}",'
            f'signature="{signature}",timestamp="{timestamp}",serial_no="{self.config.merchant_serial_no}"'
        )

    def verify_signed(self, headers: Mapping[str, str], body: bytes) -> None:
        """A response or callback really comes from WeChat Pay, and recently."""
        lowered = {key.lower(): value for key, value in headers.items()}
        serial = lowered.get("wechatpay-serial", "")
        timestamp = lowered.get("wechatpay-timestamp", "")
        nonce = lowered.get("wechatpay-nonce", "")
        signature = lowered.get("wechatpay-signature", "")
        if serial != self.config.wechatpay_public_key_id:
            raise SignatureInvalid(f"unknown Wechatpay-Serial {serial!r}")
        # Freshness is a transport check against the wall clock, not business time (which tests move).
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            raise SignatureInvalid(f"Wechatpay-Timestamp {timestamp[:20]!r} is not a timestamp")
        if abs(int(time.time()) - int(timestamp)) > TIMESTAMP_WINDOW_SECONDS:
            raise StaleMessage(f"Wechatpay-Timestamp {timestamp!r} outside the five-minute window")
        rsa_verify(self.config.wechatpay_public_key_pem, response_message(timestamp, nonce, body), signature)

    def _call(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        url = self.config.base_url.rstrip("/") + path
        parts = urlsplit(url)
        signed_path = parts.path + (f"?{parts.query}" if parts.query else "")  # exactly what is sent
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")) if payload is not None else ""
        headers = {
            "Authorization": self.authorization(method, signed_path, body),
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        try:
            response = self.http.request(method, url, content=body.encode(), headers=headers)
        except httpx.TransportError as exc:
            raise RetryableGatewayError(f"wechatpay {method} {path}: {exc!r}") from exc
        if response.status_code >= 500:
            raise RetryableGatewayError(f"wechatpay {method} {path}: HTTP {response.status_code}")
        self.verify_signed(response.headers, response.content)
        data = _json_object(response.content, f"wechatpay {method} {path}") if response.content else {}
        if response.status_code >= 400:
            raise WeChatPayError(response.status_code, str(data.get("code", "")), str(data.get("message", "")))
        return response.status_code, data

    def native(self, *, out_trade_no: str, amount_fen: int, description: str, expires_at: datetime) -> str:
        """``POST /v3/pay/transactions/native``: the ``code_url`` to show as a QR code."""
        _, data = self._call(
            "POST",
            "/v3/pay/transactions/native",
            {
                "appid": self.config.appid,
                "mchid": self.config.mchid,
                "description": description[:127],
                "out_trade_no": out_trade_no,
                "time_expire": expires_at.astimezone(BEIJING).isoformat(timespec="seconds"),
                "notify_url": self.config.notify_url,
                "amount": {"total": amount_fen, "currency": "CNY"},
            },
        )
        if not data.get("code_url"):
            raise FinalGatewayError("wechatpay native: no code_url")
        return str(data["code_url"])

    def query(self, *, out_trade_no: str) -> WeChatTrade | None:
        path = f"/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={self.config.mchid}"
        try:
            _, data = self._call("GET", path)
        except WeChatPayError as exc:
            if exc.code == "ORDER_NOT_EXIST":
                return None
            raise
        trade = trade_from(data)
        if trade.out_trade_no != out_trade_no or trade.mchid != self.config.mchid:
            raise FinalGatewayError("wechatpay query: the answer is about another trade")
        return trade

    def close(self, *, out_trade_no: str) -> None:
        self._call("POST", f"/v3/pay/transactions/out-trade-no/{out_trade_no}/close", {"mchid": self.config.mchid})

    def refund(self, *, out_trade_no: str, out_refund_no: str, refund_fen: int, total_fen: int) -> dict[str, Any]:
        """``POST /v3/refund/domestic/refunds``: the same ``out_refund_no`` is the same refund at WeChat Pay."""
        _, data = self._call(
            "POST",
            "/v3/refund/domestic/refunds",
            {
                "out_trade_no": out_trade_no,
                "out_refund_no": out_refund_no,
                "notify_url": self.config.notify_url,
                "amount": {"refund": refund_fen, "total": total_fen, "currency": "CNY"},
            },
        )
        if data.get("out_refund_no") != out_refund_no or data.get("status") not in ("SUCCESS", "PROCESSING"):
            raise FinalGatewayError(f"wechatpay refund: unexpected answer {data.get('status')!r}")
        return data

    @sensitive_variables()  # a key (or what it signs with) is among the locals
    def verify_callback(self, headers: Mapping[str, str], body: bytes) -> tuple[dict[str, Any], WeChatTrade]:
        """Verify and decrypt a payment callback: the envelope (``id``, ``event_type``…) and the transaction.

        ``SignatureInvalid`` when the signature or the AEAD tag does not verify; ``MalformedMessage`` (``BadAmount``
        for the amount) when it does but the content is not what APIv3 documents."""
        self.verify_signed(headers, body)
        envelope = _json_object(body, "callback body")
        for name in ("id", "event_type"):
            _string(envelope, name, maximum=_ENVELOPE_BOUNDS[name], required=True)
        resource = envelope.get("resource")
        if not isinstance(resource, dict):
            raise MalformedMessage("callback resource is not an object")
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise MalformedMessage("unexpected resource algorithm")
        # associated_data is optional (string[0,16]); when present, like nonce and ciphertext, it is a string
        nonce = _string(resource, "nonce", maximum=16, required=True)
        associated_data = _string(resource, "associated_data", maximum=16)
        ciphertext = _string(resource, "ciphertext", maximum=1024 * 1024, required=True)
        plaintext = aes_gcm_decrypt(self.config.apiv3_key, nonce, associated_data, ciphertext)
        transaction = _json_object(plaintext, "callback resource")
        trade = trade_from(transaction)
        if not trade.out_trade_no or not trade.transaction_id:
            raise MalformedMessage("callback resource without out_trade_no or transaction_id")
        return envelope, trade


# Documented maxima (APIv3: 支付通知 / 查询订单 / 退款结果通知).
_ENVELOPE_BOUNDS = {"id": 36, "event_type": 32}
_TRADE_BOUNDS = {
    "out_trade_no": 32,
    "transaction_id": 32,
    "trade_state": 32,
    "mchid": 32,
    "appid": 32,
}


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = load_json(raw)
    except BadInput as exc:
        raise MalformedMessage(f"{what}: {exc}") from exc
    if not isinstance(value, dict):
        raise MalformedMessage(f"{what} is not a JSON object")
    return value


def _string(data: Mapping[str, Any], name: str, *, maximum: int, required: bool = False) -> str:
    """A documented string field: absent is ``""`` (refused if ``required``); anything but a string within its
    documented length is refused (``load_json`` has already refused NUL)."""
    value = data.get(name, "")
    if not isinstance(value, str):
        raise MalformedMessage(f"{name} is not a string")
    if len(value) > maximum or (required and not value):
        raise MalformedMessage(f"{name} is empty or longer than {maximum}")
    return value


def trade_from(data: Mapping[str, Any]) -> WeChatTrade:
    """A transaction as WeChat Pay documents it, from a callback's resource or a query's answer: every field present
    is a string within its documented length; ``amount.total`` is a JSON integer of fen (not ``"30000"``, not
    ``30000.0``). Absent fields are empty (a trade not paid yet has no ``transaction_id``)."""
    if not isinstance(data, Mapping):
        raise MalformedMessage("transaction is not an object")
    fields = {name: _string(data, name, maximum=bound) for name, bound in _TRADE_BOUNDS.items()}
    amount = data.get("amount", {})
    if not isinstance(amount, dict):
        raise BadAmount("amount is not an object")
    total = amount.get("total", 0)
    if type(total) is not int or not 0 <= total <= MAX_JSON_INT:
        raise BadAmount("amount.total is not an integer of fen")
    return WeChatTrade(
        amount_total=total,
        currency=_string(amount, "currency", maximum=16),
        **fields,
    )
