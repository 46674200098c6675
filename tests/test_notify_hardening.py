"""Gateway notifications with unusual content (issue 14, R1.7): validly signed with the sandboxes' keys, yet not what
the gateways document; and what Django would refuse before the view. Each is refused in the gateway's format,
recorded like any other bad notification, and changes nothing — never a 500 (which the gateway retries for a day).

Run on PostgreSQL too (``DATABASE_URL``): NUL and over-long values are what it refuses where SQLite stores them.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes, urlencode

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.http import HttpResponse
from django.test import Client
from django.utils import timezone

from mobileca.accounts.models import User
from mobileca.cards.models import Card
from mobileca.core.errors import FinalGatewayError
from mobileca.orders.models import Order
from mobileca.payments.gateways.alipay import AlipayClient
from mobileca.payments.gateways.signing import BadAmount
from mobileca.payments.models import Payment, PaymentEvent, RejectedNotification
from mobileca.payments.online import alipay_client
from mobileca.sandboxes import common
from mobileca.sandboxes.wechatpay.signing import encrypt_resource, signed_headers
from tests.support.payments import paid_at_gateway_unnotified, payment_state, place_wechat_order

ALIPAY_URL = "/payments/notify/alipay/"
WECHAT_URL = "/payments/notify/wechatpay/"
DEEP = 100_000


def refusals() -> list[tuple[str, str]]:
    return list(RejectedNotification.objects.order_by("pk").values_list("channel", "reason"))


# --- Alipay ------------------------------------------------------------------------------------------------------


def alipay_signed(form: dict[str, str], *, charset: str = "utf-8") -> dict[str, str]:
    """Signed as Alipay signs: every field but sign/sign_type, sorted, ``k=v&…`` in the form's charset, RSA2 with
    the sandbox gateway's key."""
    unsigned = {key: value for key, value in form.items() if key not in ("sign", "sign_type")}
    message = "&".join(f"{key}={unsigned[key]}" for key in sorted(unsigned)).encode(charset)
    return {**unsigned, "sign_type": "RSA2", "sign": common.sign(settings.SANDBOX_ALIPAY["private_key_path"], message)}


def alipay_post(body: bytes | str, content_type: str = "application/x-www-form-urlencoded") -> HttpResponse:
    response: HttpResponse = Client(raise_request_exception=True).post(ALIPAY_URL, body, content_type=content_type)
    return response


def alipay_notify(form: dict[str, str]) -> HttpResponse:
    return alipay_post(urlencode(form))


@pytest.fixture
def alipay_paid(bidder: User) -> tuple[Order, Payment, dict[str, str]]:
    """Paid in the Alipay sandbox's cashier; its genuine notification not yet delivered."""
    return paid_at_gateway_unnotified(bidder)


def assert_alipay_refused(
    response: HttpResponse, reason: str, order: Order, payment: Payment, before: tuple[object, ...]
) -> None:
    assert (response.status_code, response.content) == (200, b"failure")
    assert payment_state(order, payment) == before
    assert (order.status, payment.status, order.card_id) == ("pending_payment", "pending", None)
    assert refusals() == [("alipay", reason)]
    rejected = RejectedNotification.objects.get()
    assert "\x00" not in rejected.body + rejected.out_trade_no


@pytest.mark.parametrize("length", [114, 120, 128])
def test_alipay_notify_id_up_to_its_documented_128_characters_pays(
    alipay_paid: tuple[Order, Payment, dict[str, str]], length: int
) -> None:
    # issue 14: notify_id is String(128) in Alipay's documents; the inbox key held 120 with its prefix
    order, payment, genuine = alipay_paid
    notify_id = secrets.token_hex(64)[:length]
    response = alipay_notify(alipay_signed({**genuine, "notify_id": notify_id}))
    assert (response.status_code, response.content) == (200, b"success")
    payment.refresh_from_db()
    order.refresh_from_db()
    assert (order.status, payment.status, Card.objects.count()) == ("paid", "paid", 1)
    assert payment.paid_by_event == f"notify:{notify_id}"
    assert list(PaymentEvent.objects.values_list("event_key", flat=True)) == [f"notify:{notify_id}"]
    assert not RejectedNotification.objects.exists()


ALIPAY_MALFORMED: dict[str, Callable[[dict[str, str]], dict[str, str]]] = {
    "notify_id of 129": lambda form: {**form, "notify_id": "n" * 129},
    "trade_no of 300": lambda form: {**form, "trade_no": "2" * 300},
    "NUL in notify_id": lambda form: {**form, "notify_id": form["notify_id"] + "\x00"},
    "NUL in trade_no": lambda form: {**form, "trade_no": "\x00" + form["trade_no"]},
    "NUL in out_trade_no": lambda form: {**form, "out_trade_no": form["out_trade_no"] + "\x00"},
    "NUL in subject": lambda form: {**form, "subject": "证书\x00"},
    "NUL in a field name": lambda form: {**form, "ext\x00ra": "1"},
    "NUL in buyer_id": lambda form: {**form, "buyer_id": "\x00"},
}


@pytest.mark.parametrize("case", list(ALIPAY_MALFORMED))
def test_validly_signed_alipay_notification_with_malformed_fields_is_refused_and_recorded(
    alipay_paid: tuple[Order, Payment, dict[str, str]], case: str
) -> None:
    # issue 14: a 500 before (PostgreSQL: NUL in the payload, a key past its column); now refused and recorded
    order, payment, genuine = alipay_paid
    before = payment_state(order, payment)
    response = alipay_notify(alipay_signed(ALIPAY_MALFORMED[case](genuine)))
    assert_alipay_refused(response, "malformed", order, payment, before)


@pytest.mark.parametrize("total", ["３００.００", "3e2", "+300.00", " 300.00", "300.00 ", "0300.00", "300.000", "3E2"])
def test_alipay_amount_is_read_exactly_as_number_9_2(
    alipay_paid: tuple[Order, Payment, dict[str, str]], total: str
) -> None:
    # issue 14: Number(9,2) — no full-width digits, exponent, sign, blank or padding zero (all read as 300 before)
    order, payment, genuine = alipay_paid
    before = payment_state(order, payment)
    response = alipay_notify(alipay_signed({**genuine, "total_amount": total}))
    assert_alipay_refused(response, "bad_amount", order, payment, before)


def test_alipay_gbk_notification_is_decoded_verified_and_pays(
    alipay_paid: tuple[Order, Payment, dict[str, str]],
) -> None:
    # issue 14: charset=gbk is allowed by Alipay's documents; the signature covers the GBK bytes
    order, payment, genuine = alipay_paid
    form = alipay_signed({**genuine, "charset": "gbk", "subject": "数字证书（移动）购买"}, charset="gbk")
    body = urlencode(form, encoding="gbk")
    assert "%CA%FD%D7%D6" in body  # 数字 in GBK, not UTF-8
    response = alipay_post(body, "application/x-www-form-urlencoded; charset=GBK")
    assert (response.status_code, response.content) == (200, b"success")
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, payment.status, Card.objects.count()) == ("paid", "paid", 1)
    assert PaymentEvent.objects.get().payload["subject"] == "数字证书（移动）购买"


def test_a_gbk_body_declared_utf8_is_refused_and_recorded(alipay_paid: tuple[Order, Payment, dict[str, str]]) -> None:
    # issue 14: a non-UTF-8 form answered Django's English 400 and left no record
    order, payment, genuine = alipay_paid
    before = payment_state(order, payment)
    form = alipay_signed({**genuine, "subject": "数字证书"}, charset="gbk")  # says utf-8, is GBK
    response = alipay_post(urlencode(form, encoding="gbk"))
    assert_alipay_refused(response, "unreadable", order, payment, before)


OVERSIZE = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1


@pytest.mark.parametrize(
    ("name", "body", "content_type", "reason"),
    [
        ("over the upload limit", "a=" + "x" * OVERSIZE, "application/x-www-form-urlencoded", "too_large"),
        (
            "1,001 fields",
            "&".join(f"f{n}=1" for n in range(1001)),
            "application/x-www-form-urlencoded",
            "too_many_fields",
        ),
        ("not UTF-8", "subject=%FF%FE&notify_id=1", "application/x-www-form-urlencoded", "unreadable"),
        ("multipart without a boundary", "notify_id=1", "multipart/form-data", "unreadable"),
        ("an unknown charset", "charset=ebcdic&notify_id=1", "application/x-www-form-urlencoded", "unreadable"),
        ("a field given twice", "notify_id=1&notify_id=2", "application/x-www-form-urlencoded", "unreadable"),
        ("JSON", '{"notify_id": "1"}', "application/json", "unreadable"),
    ],
)
def test_alipay_bodies_django_would_refuse_are_answered_failure_and_recorded(
    alipay_paid: tuple[Order, Payment, dict[str, str]], name: str, body: str, content_type: str, reason: str
) -> None:
    # issue 14: these got Django's English HTML 400 before the view, and no record
    order, payment, _ = alipay_paid
    before = payment_state(order, payment)
    response = alipay_post(body, content_type)
    assert_alipay_refused(response, reason, order, payment, before)
    assert len(RejectedNotification.objects.get().body) <= 4000


def test_alipay_multipart_notification_with_a_boundary_is_still_read(
    alipay_paid: tuple[Order, Payment, dict[str, str]],
) -> None:
    # what Django read before (its test client posts multipart by default) is still read
    order, _, genuine = alipay_paid
    response = Client(raise_request_exception=True).post(ALIPAY_URL, genuine)
    assert (response.status_code, response.content) == (200, b"success")
    order.refresh_from_db()
    assert order.status == "paid"


# --- WeChat Pay --------------------------------------------------------------------------------------------------


def wechat_key() -> bytes:
    return Path(settings.SANDBOX_WECHATPAY["apiv3_key_path"]).read_text().strip().encode()


def transaction(out_trade_no: str, **changes: Any) -> dict[str, Any]:
    gateway = settings.SANDBOX_WECHATPAY
    plain: dict[str, Any] = {
        "appid": gateway["appid"],
        "mchid": gateway["mchid"],
        "out_trade_no": out_trade_no,
        "transaction_id": "4200000000" + secrets.token_hex(9),
        "trade_type": "NATIVE",
        "trade_state": "SUCCESS",
        "success_time": timezone.now().isoformat(timespec="seconds"),
        "amount": {"total": 30000, "payer_total": 30000, "currency": "CNY", "payer_currency": "CNY"},
    }
    plain.update(changes)
    return plain


def sealed(plaintext: bytes, *, nonce: Any = None, associated_data: Any = "transaction") -> dict[str, Any]:
    """The encrypted resource with any ``nonce``/``associated_data`` values, as JSON would carry them (the AEAD
    itself uses their text, when they are text)."""
    real_nonce = secrets.token_hex(6)
    aad = associated_data if isinstance(associated_data, str) else ""
    ciphertext = AESGCM(wechat_key()).encrypt(real_nonce.encode(), plaintext, aad.encode())
    return {
        "original_type": "transaction",
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "associated_data": associated_data,
        "nonce": real_nonce if nonce is None else nonce,
    }


def envelope(resource: Any, **changes: Any) -> bytes:
    body: dict[str, Any] = {
        "id": secrets.token_hex(18),
        "create_time": timezone.now().isoformat(timespec="seconds"),
        "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
        "resource": resource,
    }
    body.update(changes)
    return json.dumps(body, ensure_ascii=False).encode()


def wechat_post(body: bytes) -> HttpResponse:
    """Signed over ``timestamp\\nnonce\\nbody\\n`` with the sandbox's WeChat Pay key, whatever the body holds."""
    response: HttpResponse = Client(raise_request_exception=True).post(
        WECHAT_URL, body, content_type="application/json", headers=signed_headers(body)
    )
    return response


@pytest.fixture
def wechat_pending(bidder: User) -> tuple[Order, Payment]:
    return place_wechat_order(bidder)


def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


WECHAT_MALFORMED: dict[str, Callable[[str], bytes]] = {
    "transaction_id of 300": lambda no: envelope(
        encrypt_resource(json.dumps(transaction(no, transaction_id="4" * 300)).encode())
    ),
    "NUL in transaction_id": lambda no: envelope(
        encrypt_resource(json.dumps(transaction(no, transaction_id="42\x00")).encode())
    ),
    "NUL in out_trade_no": lambda no: envelope(encrypt_resource(json.dumps(transaction(no + "\x00")).encode())),
    "NUL in a field we do not read": lambda no: envelope(
        encrypt_resource(json.dumps(transaction(no, bank_type="\x00")).encode())
    ),
    "NUL in the envelope id": lambda no: envelope(encrypt_resource(json.dumps(transaction(no)).encode()), id="evt\x00"),
    "NUL in the summary": lambda no: envelope(encrypt_resource(json.dumps(transaction(no)).encode()), summary="\x00"),
    "event id of 300": lambda no: envelope(encrypt_resource(json.dumps(transaction(no)).encode()), id="e" * 300),
    "associated_data null": lambda no: envelope(sealed(json.dumps(transaction(no)).encode(), associated_data=None)),
    "associated_data a number": lambda no: envelope(sealed(json.dumps(transaction(no)).encode(), associated_data=7)),
    "nonce null": lambda no: envelope({**sealed(json.dumps(transaction(no)).encode()), "nonce": None}),
    "nonce a number": lambda no: envelope({**sealed(json.dumps(transaction(no)).encode()), "nonce": 123456789012}),
    "resource a string": lambda no: envelope("AEAD_AES_256_GCM"),
    "resource missing": lambda no: json.dumps({"id": "e1", "event_type": "TRANSACTION.SUCCESS"}).encode(),
    "body a JSON array": lambda no: b"[1, 2]",
    "body not JSON": lambda no: b"\xff\xfe",
    "plaintext a JSON array": lambda no: envelope(encrypt_resource(json.dumps([transaction(no)]).encode())),
    "plaintext not JSON": lambda no: envelope(encrypt_resource(b"\xff")),
    "body nested 100,000 deep": lambda no: b'{"id": "e1", "resource": ' + deep(DEEP) + b"}",
    "plaintext nested 100,000 deep": lambda no: envelope(encrypt_resource(b'{"a": ' + deep(DEEP) + b"}")),
    "mchid a number": lambda no: envelope(encrypt_resource(json.dumps(transaction(no, mchid=1900000109)).encode())),
}


@pytest.mark.parametrize("case", list(WECHAT_MALFORMED))
def test_validly_signed_wechat_callback_with_malformed_content_is_refused_and_recorded(
    wechat_pending: tuple[Order, Payment], case: str
) -> None:
    # issue 14: each answered 500 before, neither applied nor recorded, so WeChat Pay retried it for a day
    order, payment = wechat_pending
    before = payment_state(order, payment)
    response = wechat_post(WECHAT_MALFORMED[case](payment.out_trade_no))
    assert response.status_code == 400 and response.json() == {"code": "FAIL", "message": "失败"}
    assert payment_state(order, payment) == before
    assert (order.status, payment.status) == ("pending_payment", "pending")
    assert refusals() == [("wechat", "malformed")]
    rejected = RejectedNotification.objects.get()
    assert "\x00" not in rejected.body


@pytest.mark.parametrize(
    "amount",
    [
        {"total": "30000", "currency": "CNY"},
        {"total": 30000.0, "currency": "CNY"},
        {"total": True, "currency": "CNY"},
        {"total": -30000, "currency": "CNY"},
        {"total": [30000], "currency": "CNY"},
        [30000, "CNY"],
        "30000",
    ],
)
def test_wechat_total_is_a_json_integer_of_fen_or_refused(wechat_pending: tuple[Order, Payment], amount: Any) -> None:
    # issue 14: "30000" and 30000.0 were read as 300 yuan; an amount that is a list answered 500
    order, payment = wechat_pending
    before = payment_state(order, payment)
    plaintext = json.dumps(transaction(payment.out_trade_no, amount=amount)).encode()
    response = wechat_post(envelope(encrypt_resource(plaintext)))
    assert response.status_code == 400 and response.json()["code"] == "FAIL"
    assert payment_state(order, payment) == before
    assert refusals() == [("wechat", "bad_amount")]


def test_wechat_callback_with_a_well_formed_resource_still_pays(wechat_pending: tuple[Order, Payment]) -> None:
    # the same helpers, with nothing unusual: the order is paid (the refusals above are not the helpers' doing)
    order, payment = wechat_pending
    response = wechat_post(envelope(encrypt_resource(json.dumps(transaction(payment.out_trade_no)).encode())))
    assert response.status_code == 204
    order.refresh_from_db()
    assert (order.status, Card.objects.count(), refusals()) == ("paid", 1, [])


def test_wechat_body_over_the_upload_limit_is_answered_fail_and_recorded(
    wechat_pending: tuple[Order, Payment],
) -> None:
    # issue 14: Django's English 400 before the view, and no record
    order, payment = wechat_pending
    before = payment_state(order, payment)
    body = b'{"id": "' + b"x" * OVERSIZE + b'"}'
    response = wechat_post(body)
    assert response.status_code == 413 and response.json() == {"code": "FAIL", "message": "失败"}
    assert payment_state(order, payment) == before
    assert refusals() == [("wechat", "too_large")]
    rejected = RejectedNotification.objects.get()
    assert len(rejected.body) <= 4000 and rejected.headers["Wechatpay-Serial"]


def test_alipay_form_field_percent_encoded_nul_is_refused(alipay_paid: tuple[Order, Payment, dict[str, str]]) -> None:
    # issue 14: %00 in the body (what a gateway's form would carry), validly signed
    order, payment, genuine = alipay_paid
    before = payment_state(order, payment)
    form = alipay_signed({**genuine, "body": "a\x00b"})
    body = "&".join(f"{key}={quote_from_bytes(value.encode())}" for key, value in form.items())
    assert "%00" in body
    response = alipay_post(body)
    assert_alipay_refused(response, "malformed", order, payment, before)


# --- the same amounts in the gateways' answers to a query --------------------------------------------------------


def alipay_answering(total_amount: str, depth: int = 0) -> AlipayClient:
    """The Alipay client, its gateway answering ``alipay.trade.query`` with a validly signed answer."""
    config = alipay_client().config
    inner = (
        '{"code":"10000","msg":"Success","out_trade_no":"T1","trade_no":"2025","trade_status":"TRADE_SUCCESS",'
        f'"total_amount":"{total_amount}","extra":{"[" * depth}{"]" * depth or "0"}}}'
    )
    signature = common.sign(settings.SANDBOX_ALIPAY["private_key_path"], inner.encode())
    body = f'{{"alipay_trade_query_response":{inner},"sign":"{signature}"}}'

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=body, headers={"Content-Type": "application/json;charset=utf-8"})

    return AlipayClient(config, http_factory=lambda: httpx.Client(transport=httpx.MockTransport(answer)))


def test_alipay_query_answer_reads_its_amount_exactly(db: None) -> None:
    trade = alipay_answering("300.00").query(out_trade_no="T1")
    assert trade is not None and trade.total_amount == Decimal("300.00")


@pytest.mark.parametrize("total", ["3e2", "+300.00", "３００.００", "0300.00"])
def test_alipay_query_answer_with_a_lenient_amount_is_a_gateway_error(db: None, total: str) -> None:
    # issue 14: the answer to a query is read as strictly as a notification (it was Decimal(str(...)))
    with pytest.raises(BadAmount):
        alipay_answering(total).query(out_trade_no="T1")


def test_alipay_query_answer_nested_deep_is_a_gateway_error_not_a_recursion_error(db: None) -> None:
    with pytest.raises(FinalGatewayError):
        alipay_answering("300.00", depth=DEEP).query(out_trade_no="T1")


def test_a_failure_while_decrypting_a_callback_shows_no_apiv3_key_in_the_error_report(
    monkeypatch: pytest.MonkeyPatch, settings
) -> None:
    """Issue 14: the APIv3 key is a local of the decryption; the error report (the debug page too) stars the
    decryption's variables and the library's below it."""
    import sys

    from django.test import RequestFactory
    from django.views.debug import ExceptionReporter

    from mobileca.payments.gateways import signing

    class Broken:
        def __init__(self, key: bytes) -> None:
            raise RuntimeError("the AEAD library failed")

    settings.DEBUG = True
    monkeypatch.setattr(signing, "AESGCM", Broken)
    try:
        signing.aes_gcm_decrypt(b"K" * 32, "nonce", "transaction", "AAAA")
    except RuntimeError:
        reporter = ExceptionReporter(RequestFactory().post("/payments/notify/wechatpay/"), *sys.exc_info())
    frames = {frame["function"]: frame for frame in reporter.get_traceback_frames()}
    shown = [value for name in ("aes_gcm_decrypt", "__init__") for _, value in frames[name]["vars"]]
    assert shown and all(value == "'********************'" or "********" in str(value) for value in shown), shown
    assert "KKKKKKKK" not in str(shown)
