"""Payment notifications verified and applied per second — Alipay (RSA2 form) and WeChat Pay (RSA signature over
the raw body + AES-256-GCM resource) — each from verification to the paid order and its card, against the raw
RSA-2048 PKCS#1 v1.5 / SHA-256 verify rate of ``cryptography`` measured in the same run.

Runs on PostgreSQL when ``BENCH_DATABASE_URL`` names a server database it may drop and create, else on SQLite.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from decimal import Decimal
from pathlib import Path

from _harness import django_setup, rate, report

N = 300


def main() -> None:
    django_setup(database_env="BENCH_DATABASE_URL")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from django.conf import settings
    from django.db import connection

    from mobileca.accounts.models import Enterprise, User
    from mobileca.audit.services import Actor
    from mobileca.cards.models import Card
    from mobileca.core.validators import make_uscc, org_code_check_char
    from mobileca.orders.services import OrderDraft
    from mobileca.payments.models import Payment
    from mobileca.payments.notifications import alipay_notification_receive, wechatpay_notification_receive
    from mobileca.payments.services import checkout
    from mobileca.sandboxes.keys import ensure_keys

    ensure_keys(Path(settings.MOBILECA_KEYS_DIR))
    alipay_key = serialization.load_pem_private_key(
        Path(settings.SANDBOX_ALIPAY["private_key_path"]).read_bytes(), password=None
    )
    wechat_key = serialization.load_pem_private_key(
        Path(settings.SANDBOX_WECHATPAY["private_key_path"]).read_bytes(), password=None
    )
    apiv3 = Path(settings.SANDBOX_WECHATPAY["apiv3_key_path"]).read_text().strip().encode()

    def sign(key: object, message: bytes) -> str:
        return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()  # type: ignore[attr-defined]

    prefix = "91360200MA000002"
    enterprise = Enterprise.objects.create(
        name="基准测试企业", uscc=make_uscc(prefix + org_code_check_char(prefix[8:])), legal_representative="张三"
    )
    user = User.objects.create(username="bench", enterprise=enterprise)
    actor = Actor("user", str(user.pk))

    def orders(channel: str) -> list[Payment]:
        for index in range(N):
            checkout(
                draft=OrderDraft(
                    user=user,
                    enterprise=enterprise,
                    product_code="mobile-ca",
                    region_code="jiangxi",
                    channel=channel,
                    expected_amount=Decimal("300.00"),
                    client_token=f"{channel}{index}",
                ),
                actor=actor,
            )
        return list(Payment.objects.filter(channel=channel).order_by("pk"))

    # Alipay: sign N notifications as the gateway would, then time the platform taking them.
    alipay_forms = []
    conf = settings.SANDBOX_ALIPAY
    for payment in orders("alipay"):
        form = {
            "notify_time": "2026-11-28 10:00:00",
            "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16),
            "app_id": conf["app_id"],
            "charset": "utf-8",
            "version": "1.0",
            "trade_no": "2026112822" + secrets.token_hex(8),
            "out_trade_no": payment.out_trade_no,
            "seller_id": conf["seller_id"],
            "trade_status": "TRADE_SUCCESS",
            "total_amount": "300.00",
        }
        form["sign"] = sign(alipay_key, "&".join(f"{k}={form[k]}" for k in sorted(form)).encode())
        form["sign_type"] = "RSA2"
        alipay_forms.append(form)

    def take_alipay() -> None:
        for form in alipay_forms:
            assert alipay_notification_receive(form=form, remote_addr="127.0.0.1").accepted

    alipay_rate = rate(N, take_alipay)

    # WeChat Pay: encrypted, signed callbacks.
    wconf = settings.SANDBOX_WECHATPAY
    callbacks = []
    for payment in orders("wechat"):
        nonce = secrets.token_hex(6)
        transaction = {
            "mchid": wconf["mchid"],
            "appid": wconf["appid"],
            "out_trade_no": payment.out_trade_no,
            "transaction_id": "4200" + secrets.token_hex(10),
            "trade_state": "SUCCESS",
            "amount": {"total": 30000, "payer_total": 30000, "currency": "CNY"},
        }
        ciphertext = AESGCM(apiv3).encrypt(nonce.encode(), json.dumps(transaction).encode(), b"transaction")
        body = json.dumps(
            {
                "id": secrets.token_hex(18),
                "event_type": "TRANSACTION.SUCCESS",
                "resource_type": "encrypt-resource",
                "resource": {
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": base64.b64encode(ciphertext).decode(),
                    "associated_data": "transaction",
                    "nonce": nonce,
                    "original_type": "transaction",
                },
            }
        ).encode()
        timestamp, header_nonce = str(int(time.time()) + 60), secrets.token_hex(16)
        headers = {
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": header_nonce,
            "Wechatpay-Serial": wconf["public_key_id"],
            "Wechatpay-Signature": sign(wechat_key, f"{timestamp}\n{header_nonce}\n".encode() + body + b"\n"),
        }
        callbacks.append((headers, body))

    def take_wechat() -> None:
        for headers, body in callbacks:
            assert wechatpay_notification_receive(headers=headers, body=body, remote_addr="127.0.0.1").accepted

    wechat_rate = rate(N, take_wechat)
    assert Card.objects.count() == 2 * N

    # The raw floor: RSA-2048 verifications with cryptography, same messages.
    public = alipay_key.public_key()  # type: ignore[attr-defined]
    messages = [
        ("&".join(f"{k}={f[k]}" for k in sorted(f) if k not in ("sign", "sign_type"))).encode() for f in alipay_forms
    ]
    signatures = [base64.b64decode(f["sign"]) for f in alipay_forms]

    def raw_verify() -> None:
        for message, signature in zip(messages, signatures, strict=True):
            public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())

    baseline = rate(N, raw_verify)
    engine = connection.vendor
    report(f"alipay_notifications_applied_{engine}", alipay_rate, "notifications/s", baseline)
    report(f"wechatpay_callbacks_applied_{engine}", wechat_rate, "notifications/s", baseline)


if __name__ == "__main__":
    main()
