"""Payment notifications verified and applied per second, each from verification to the paid order and its card.

On PostgreSQL (``BENCH_DATABASE_URL`` names a server database it may drop and create): Alipay notifications posted
over HTTP to gunicorn with 4 workers by 1, 4 and 16 concurrent senders; the baseline at each concurrency is raw
psycopg running the very statements one real notification ran (captured with ``connection.execute_wrapper``), each
notification in its own transaction, one connection per sender. Beside them, to choose between applying at once and
acknowledging once stored (applied later in batches by the worker): the HTTP rate of a notification that only
verifies and stores one row (a refused one: verify, one SELECT, one INSERT), and the raw rate of the apply
statements run in batches of 50 per transaction by one connection (a worker's).

On SQLite (no ``BENCH_DATABASE_URL``, ``make bench``): Alipay (RSA2 form) and WeChat Pay (RSA signature over the raw
body + AES-256-GCM resource) in process, against the raw RSA-2048 PKCS#1 v1.5 / SHA-256 verify rate of
``cryptography`` measured in the same run.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from _harness import children, cpu_seconds, django_setup, rate, report, serve, stop

N = 300
SENDERS = (1, 4, 16)
PER_LEVEL = {1: 150, 4: 320, 16: 800}
WARM = 24  # notifications that warm the gunicorn workers (imports, keys, connections) before timing
BATCH = 50


def main() -> None:
    if os.environ.get("BENCH_DATABASE_URL"):
        over_http()
        return
    in_process()


def in_process() -> None:
    django_setup()
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
    alipay_forms = [_alipay_form(payment, alipay_key) for payment in orders("alipay")]

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


# --- PostgreSQL, over HTTP ----------------------------------------------------------------------------------------


def _orders(count: int, tag: str) -> list[Any]:
    """``count`` pending Alipay orders with their payments, written in bulk (what checkout leaves)."""
    from datetime import timedelta

    from mobileca.accounts.models import Enterprise, User
    from mobileca.core.clock import now
    from mobileca.core.validators import make_uscc, org_code_check_char
    from mobileca.orders.models import Order, Product, Region
    from mobileca.payments.models import Payment

    enterprise = Enterprise.objects.first()
    if enterprise is None:
        prefix = "91360200MA000003"
        enterprise = Enterprise.objects.create(
            name="基准测试企业", uscc=make_uscc(prefix + org_code_check_char(prefix[8:])), legal_representative="张三"
        )
    buyer = User.objects.filter(username="bench").first()
    if buyer is None:
        buyer = User.objects.create(username="bench", enterprise=enterprise)
    product, region, moment = Product.objects.get(code="mobile-ca"), Region.objects.get(code="jiangxi"), now()
    orders = Order.objects.bulk_create(
        Order(
            order_no=f"{tag}{index:012d}",
            enterprise=enterprise,
            created_by=buyer,
            client_token=f"{tag}-{index}",
            product=product,
            product_name=product.name,
            seller_name="seller",
            amount=product.price,
            region=region,
            channel="alipay",
            created_at=moment,
            expires_at=moment + timedelta(hours=2),
        )
        for index in range(count)
    )
    return Payment.objects.bulk_create(
        Payment(
            order=order,
            channel="alipay",
            out_trade_no=f"P{order.order_no}",
            amount=order.amount,
            created_at=moment,
        )
        for order in orders
    )


def _alipay_form(payment: Any, key: Any, *, amount: str = "300.00") -> dict[str, str]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from django.conf import settings

    conf = settings.SANDBOX_ALIPAY
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
        "total_amount": amount,
    }
    message = "&".join(f"{k}={form[k]}" for k in sorted(form)).encode()
    form["sign"] = base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
    form["sign_type"] = "RSA2"
    return form


def _in_parallel(senders: int, items: Sequence[Any], work: Callable[[list[Any]], None]) -> float:
    """Items per second, ``work`` given every ``senders``-th item in each of ``senders`` threads."""
    shares = [list(items[index::senders]) for index in range(senders)]
    failures: list[BaseException] = []

    def guarded(share: list[Any]) -> None:
        try:
            work(share)
        except BaseException as exc:
            failures.append(exc)
            raise

    threads = [threading.Thread(target=guarded, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} of {senders} senders failed") from failures[0]
    return len(items) / elapsed


def _post_all(url: str, expected: str) -> Callable[[list[Any]], None]:
    import httpx

    def send(forms: list[Any]) -> None:
        with httpx.Client(timeout=60) as client:
            for form in forms:
                reply = client.post(url, data=form)
                assert reply.status_code == 200 and reply.text == expected, (reply.status_code, reply.text[:200])

    return send


class ServerCpu:
    """CPU the server side spent (gunicorn's workers and the database's backends), robust to a machine shared with
    other work where rates alone are not: call ``start()`` and ``per(count)``."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.before: dict[int, float] = {}

    def _pids(self) -> tuple[list[int], list[int]]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            backends = [row[0] for row in cursor.fetchall()]
        return children(self.server_pid), backends

    def start(self) -> None:
        workers, backends = self._pids()
        self.before = cpu_seconds(workers + backends)

    def per(self, count: int) -> tuple[float, float]:
        """Milliseconds per notification: (gunicorn workers, database backends)."""
        workers, backends = self._pids()
        now = cpu_seconds(workers + backends)

        def spent(pids: list[int]) -> float:
            return sum(now.get(pid, 0.0) - self.before.get(pid, 0.0) for pid in pids) * 1000 / count

        return spent(workers), spent(backends)


class Captured:
    """The statements one notification ran, with their parameters, to be replayed for other orders."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        self.statements.append((sql, params))
        return execute(sql, params, many, context)


def _replay_plan(statements: list[tuple[str, Any]], template: Any, card: Any) -> Callable[[Any, int], list[Any]]:
    """The template's statements for another payment: its ids, numbers and unique keys put in the template's."""
    order = template.order
    event = template.paid_by_event

    def values(target: Any, index: int) -> dict[Any, Any]:
        return {
            ("int", template.pk): target.pk,
            ("int", order.pk): target.order_id,
            ("str", template.out_trade_no): target.out_trade_no,
            ("str", order.order_no): target.order.order_no,
            ("str", event): f"notify:replay{index}",
            ("str", template.settled_by_event): f"alipay:replay{index}",
            ("str", card.cert_id): f"9{index:016d}",
        }

    def plan(target: Any, index: int) -> list[Any]:
        swap = values(target, index)

        def one(value: Any) -> Any:
            kind = "int" if type(value) is int else "str" if type(value) is str else None
            return swap.get((kind, value), value) if kind else value

        return [(sql, tuple(one(value) for value in params) if params else params) for sql, params in statements]

    return plan


def _replay(url: str, plans: Sequence[list[Any]], senders: int, per_transaction: int = 1) -> float:
    import psycopg

    def run(share: list[list[Any]]) -> None:
        with psycopg.connect(url) as connection:
            cursor = psycopg.ClientCursor(connection)
            for start in range(0, len(share), per_transaction):
                for plan in share[start : start + per_transaction]:
                    for sql, params in plan:
                        cursor.execute(sql, params)
                connection.commit()

    return _in_parallel(senders, plans, run)


def over_http() -> None:
    django_setup(database_env="BENCH_DATABASE_URL")
    from cryptography.hazmat.primitives import serialization
    from django.conf import settings
    from django.db import connection

    from mobileca.cards.models import Card
    from mobileca.payments.models import Payment
    from mobileca.payments.notifications import alipay_notification_receive
    from mobileca.sandboxes.keys import ensure_keys

    url = os.environ["BENCH_DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    ensure_keys(Path(settings.MOBILECA_KEYS_DIR))
    key = serialization.load_pem_private_key(
        Path(settings.SANDBOX_ALIPAY["private_key_path"]).read_bytes(), password=None
    )
    app = _orders(WARM + sum(PER_LEVEL.values()), "A")
    raw = _orders(1 + sum(PER_LEVEL.values()) + BATCH * 8, "R")
    refused = _orders(PER_LEVEL[16], "X")
    forms = [_alipay_form(payment, key) for payment in app]
    wrong = [_alipay_form(payment, key, amount="0.01") for payment in refused]

    server, base = serve({"DJANGO_DEBUG": "0", "LOG_LEVEL": "ERROR"}, workers=4)
    try:
        notify_url = f"{base}/payments/notify/alipay/"
        _post_all(notify_url, "success")(forms[:WARM])
        # One real notification, its statements captured: the baseline replays them.
        template = raw[0]
        captured = Captured()
        with connection.execute_wrapper(captured):
            assert alipay_notification_receive(form=_alipay_form(template, key), remote_addr="127.0.0.1").accepted
        template = Payment.objects.select_related("order").get(pk=template.pk)
        card = Card.objects.get(source_order_no=template.order.order_no)
        plan = _replay_plan(captured.statements, template, card)
        targets = list(Payment.objects.select_related("order").filter(pk__in=[p.pk for p in raw[1:]]).order_by("pk"))
        print(f"# one notification: {len(captured.statements)} statements", flush=True)
        used, offset, baselines = WARM, 0, {}
        cpu = ServerCpu(server.pid)
        for senders in SENDERS:
            count = PER_LEVEL[senders]
            batch = forms[used : used + count]
            cpu.start()
            applied = _in_parallel(senders, batch, _post_all(notify_url, "success"))
            web_ms, db_ms = cpu.per(count)
            print(f"# {senders} senders: server CPU per notification {web_ms:.1f} ms in gunicorn, {db_ms:.1f} ms "
                  "in PostgreSQL", flush=True)  # fmt: skip
            out_trade_nos = [form["out_trade_no"] for form in batch]
            assert Payment.objects.filter(out_trade_no__in=out_trade_nos, status="paid").count() == count
            plans = [plan(target, offset + index) for index, target in enumerate(targets[offset : offset + count])]
            baseline = baselines[senders] = _replay(url, plans, senders)
            name = f"alipay_notifications_applied_http_postgresql_{senders}_senders"
            report(name, applied, "notifications/s", baseline)
            used, offset = used + count, offset + count
        assert Card.objects.filter(source_order_no__startswith="A").count() == used
        # Acknowledging once stored: the HTTP rate of verify + one SELECT + one INSERT (a refused notification)
        # against applying at once, both at 16 senders, and what a worker applying in batches would reach.
        cpu.start()
        stored = _in_parallel(16, wrong, _post_all(notify_url, "failure"))
        web_ms, db_ms = cpu.per(len(wrong))
        print(f"# verified and stored only: server CPU per notification {web_ms:.1f} ms in gunicorn, {db_ms:.1f} ms "
              "in PostgreSQL", flush=True)  # fmt: skip
        report("alipay_notifications_verified_and_stored_only_http_postgresql_16_senders", stored, "notifications/s",
               applied)  # fmt: skip
        # One worker (one connection) applying stored notifications 50 to a transaction, against the same
        # statements one notification to a transaction on one connection (the 1-sender baseline above).
        apply_only = [plan(target, offset + index)[1:] for index, target in enumerate(targets[offset:])]
        batched = _replay(url, apply_only, 1, per_transaction=BATCH)
        report("alipay_notifications_applied_in_batches_of_50_one_connection_raw_postgresql", batched,
               "notifications/s", baselines[1])  # fmt: skip
    finally:
        stop(server)


if __name__ == "__main__":
    main()
