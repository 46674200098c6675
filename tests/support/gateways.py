"""Gateway simulations for the tests, independent of the clients under test: Alipay's RSA2-signed notifications and
WeChat Pay's signed, AES-256-GCM-sealed callbacks, with the sandboxes' keys or a forger's."""

from __future__ import annotations

import base64
import json
import secrets
import time
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.http import HttpResponse
from django.test import Client
from django.utils import timezone

from mobileca.payments.models import Payment
from mobileca.sandboxes.wechatpay.signing import encrypt_resource

# --- Alipay -------------------------------------------------------------------------------------------------------

NOTIFY_URL = "/payments/notify/alipay/"


# --- keys and signing (independent of the client under test) -----------------------------------------------------


def _pem(path: str) -> bytes:
    return Path(path).read_bytes()


def gateway_private_pem() -> bytes:
    return _pem(settings.SANDBOX_ALIPAY["private_key_path"])


def gateway_public_pem() -> bytes:
    return _pem(settings.MOBILECA_ALIPAY["alipay_public_key_path"])


def app_private_pem() -> bytes:
    return _pem(settings.MOBILECA_ALIPAY["app_private_key_path"])


def app_public_pem() -> bytes:
    return _pem(settings.SANDBOX_ALIPAY["app_public_key_path"])


@cache
def forger_private_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def rsa2_sign(private_pem: bytes, message: str) -> str:
    key = serialization.load_pem_private_key(private_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def signed_notification(form: dict[str, str], private_pem: bytes | None = None) -> dict[str, str]:
    """Alipay's notification signature: every field but ``sign``/``sign_type``, sorted, ``k=v&…``, RSA2."""
    unsigned = {key: value for key, value in form.items() if key not in ("sign", "sign_type")}
    message = "&".join(f"{key}={unsigned[key]}" for key in sorted(unsigned))
    return {**unsigned, "sign_type": "RSA2", "sign": rsa2_sign(private_pem or gateway_private_pem(), message)}


def alipay_form(payment: Payment, *, notify_id: str = "", status: str = "TRADE_SUCCESS", amount: str = "300.00",
                trade_no: str = "2026112822000000000001") -> dict[str, str]:  # fmt: skip
    conf = settings.SANDBOX_ALIPAY
    return signed_notification(
        {
            "notify_time": "2026-11-28 10:00:00",
            "notify_type": "trade_status_sync",
            "notify_id": notify_id or secrets.token_hex(16),
            "app_id": conf["app_id"],
            "seller_id": conf["seller_id"],
            "charset": "utf-8",
            "version": "1.0",
            "trade_no": trade_no,
            "out_trade_no": payment.out_trade_no,
            "trade_status": status,
            "total_amount": amount,
        }
    )


# --- WeChat Pay ---------------------------------------------------------------------------------------------------

NOTIFY_PATH = "/payments/notify/wechatpay/"
PRICE_FEN = 30000
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"


def gateway() -> dict[str, str]:
    return settings.SANDBOX_WECHATPAY


def apiv3_key() -> bytes:
    return Path(gateway()["apiv3_key_path"]).read_text().strip().encode()


def platform_private_key() -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(Path(gateway()["private_key_path"]).read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@lru_cache(maxsize=1)
def other_private_key() -> rsa.RSAPrivateKey:
    """A well-formed RSA-2048 key that is neither WeChat Pay's nor ours: what a forger holds."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_of(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def transaction_json(
    out_trade_no: str,
    *,
    transaction_id: str = "4200000000202505220000000001",
    total: int = PRICE_FEN,
    mchid: str | None = None,
    appid: str | None = None,
    currency: str = "CNY",
) -> dict[str, Any]:
    """The plaintext of a TRANSACTION.SUCCESS resource, as WeChat Pay sends it for a Native payment."""
    return {
        "appid": appid if appid is not None else gateway()["appid"],
        "mchid": mchid if mchid is not None else gateway()["mchid"],
        "out_trade_no": out_trade_no,
        "transaction_id": transaction_id,
        "trade_type": "NATIVE",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "success_time": timezone.now().isoformat(timespec="seconds"),
        "payer": {"openid": "oSandboxPayer0000000000000001"},
        "amount": {"total": total, "payer_total": total, "currency": currency, "payer_currency": currency},
    }


def seal(plaintext: dict[str, Any], *, key: bytes | None = None) -> dict[str, str]:
    """The encrypted ``resource``: the sandbox's own helper, or AES-256-GCM under another key (a forger's)."""
    raw = json.dumps(plaintext, ensure_ascii=False).encode()
    if key is None:
        return encrypt_resource(raw)
    nonce = secrets.token_hex(6)
    return {
        "original_type": "transaction",
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(AESGCM(key).encrypt(nonce.encode(), raw, b"transaction")).decode(),
        "associated_data": "transaction",
        "nonce": nonce,
    }


def envelope(resource: dict[str, str], *, event_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "id": event_id or secrets.token_hex(18),
            "create_time": timezone.now().isoformat(timespec="seconds"),
            "resource_type": "encrypt-resource",
            "event_type": "TRANSACTION.SUCCESS",
            "summary": "支付成功",
            "resource": resource,
        },
        ensure_ascii=False,
    ).encode()


def sign_with(
    body: bytes, *, key: rsa.RSAPrivateKey, serial: str | None = None, age_seconds: int = 0
) -> dict[str, str]:
    """Headers of a callback signed over ``timestamp\\nnonce\\nbody\\n`` with any key, serial and clock."""
    timestamp, nonce = str(int(time.time()) - age_seconds), secrets.token_hex(16)
    message = timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
    return {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode(),
        "Wechatpay-Serial": serial if serial is not None else gateway()["public_key_id"],
        "Wechatpay-Signature-Type": SIGNATURE_TYPE,
    }


def post_callback(body: bytes, headers: dict[str, str]) -> HttpResponse:
    """What WeChat Pay does: POST the raw JSON body with the Wechatpay-* headers to our notify URL."""
    # Django's test client sends ``headers`` as HTTP_WECHATPAY_SIGNATURE=… and so on, the raw body untouched.
    return Client().post(NOTIFY_PATH, data=body, content_type="application/json", headers=headers)  # type: ignore[return-value]
