"""The online gateways' clients (Alipay, WeChat Pay): how the platform reaches them (one HTTP client with explicit
timeouts, tests replace it) and their configuration, keys read once per configuration. The channels (``channels``)
use them; nothing else talks to a gateway."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import httpx
from django.conf import settings

from mobileca.payments.gateways.alipay import AlipayClient, AlipayConfig
from mobileca.payments.gateways.wechatpay import WeChatPayClient, WeChatPayConfig
from mobileca.payments.models import Payment

# The gateway's own expiry is shorter than ours, so no one can pay at the gateway after we close (§7).
GATEWAY_MARGIN = timedelta(minutes=10)


def http_client() -> httpx.Client:
    """How the platform reaches the gateways. Tests replace it with an in-process transport."""
    return httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))


def alipay_client() -> AlipayClient:
    return AlipayClient(_alipay_config(tuple(sorted(settings.MOBILECA_ALIPAY.items()))), http_factory=http_client)


def wechatpay_client() -> WeChatPayClient:
    return WeChatPayClient(
        _wechatpay_config(tuple(sorted(settings.MOBILECA_WECHATPAY.items()))), http_factory=http_client
    )


@lru_cache(maxsize=4)
def _alipay_config(items: tuple[tuple[str, str], ...]) -> AlipayConfig:
    """Keys are read once per configuration, not per notification."""
    conf = dict(items)
    return AlipayConfig(
        gateway_url=conf["gateway_url"],
        app_id=conf["app_id"],
        seller_id=conf["seller_id"],
        app_private_key_pem=Path(conf["app_private_key_path"]).read_bytes(),
        alipay_public_key_pem=Path(conf["alipay_public_key_path"]).read_bytes(),
        notify_url=conf["notify_url"],
        return_url=conf.get("return_url", ""),
    )


@lru_cache(maxsize=4)
def _wechatpay_config(items: tuple[tuple[str, str], ...]) -> WeChatPayConfig:
    conf = dict(items)
    return WeChatPayConfig(
        base_url=conf["base_url"],
        mchid=conf["mchid"],
        appid=conf["appid"],
        merchant_serial_no=conf["merchant_serial_no"],
        merchant_private_key_pem=Path(conf["merchant_private_key_path"]).read_bytes(),
        wechatpay_public_key_pem=Path(conf["public_key_path"]).read_bytes(),
        wechatpay_public_key_id=conf["public_key_id"],
        apiv3_key=Path(conf["apiv3_key_path"]).read_text().strip().encode(),
        notify_url=conf["notify_url"],
    )


def gateway_expiry(payment: Payment) -> datetime:
    return payment.order.expires_at - GATEWAY_MARGIN
