"""The WeChat Pay side of APIv3 signatures, on the sandbox's own keys (settings.SANDBOX_WECHATPAY)."""

from __future__ import annotations

import base64
import re
import secrets
import time
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from mobileca.sandboxes import common

_AUTH_RE = re.compile(r'(\w+)="([^"]*)"')


def config() -> dict[str, str]:
    value: dict[str, str] = settings.SANDBOX_WECHATPAY
    return value


def signed_headers(body: bytes) -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
    message = timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
    return {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": common.sign(config()["private_key_path"], message),
        "Wechatpay-Serial": config()["public_key_id"],
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }


def check_authorization(header: str, method: str, path: str, body: bytes) -> str | None:
    """``None`` if the merchant's request signature is good, else the reason (as WeChat's 401 SIGN_ERROR)."""
    scheme, _, rest = header.partition(" ")
    if scheme != "WECHATPAY2-SHA256-RSA2048":
        return "不支持的签名方式"
    fields = dict(_AUTH_RE.findall(rest))
    if fields.get("mchid") != config()["mchid"]:
        return "商户号不匹配"
    if fields.get("serial_no") != config()["merchant_serial_no"]:
        return "商户证书序列号不匹配"
    timestamp = fields.get("timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return "请求时间戳超出有效期"
    message = f"{method}\n{path}\n{timestamp}\n{fields.get('nonce_str', '')}\n".encode() + body + b"\n"
    if not common.verify(config()["merchant_public_key_path"], message, fields.get("signature", "")):
        return "签名错误"
    return None


def encrypt_resource(plaintext: bytes, associated_data: str = "transaction") -> dict[str, str]:
    nonce = secrets.token_urlsafe(9)[:12]
    apiv3_key = Path(config()["apiv3_key_path"]).read_text().strip().encode()
    ciphertext = AESGCM(apiv3_key).encrypt(nonce.encode(), plaintext, associated_data.encode())
    return {
        "original_type": "transaction",
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "associated_data": associated_data,
        "nonce": nonce,
    }
