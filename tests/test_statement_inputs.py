"""The inputs of the purchase form and of the finance back office (issue 14): amounts, dates and NUL that answered
500 (``decimal.Overflow``, ``OverflowError``, PostgreSQL refusing NUL) get a clear message and store nothing.

Run on PostgreSQL too (``DATABASE_URL``): NUL is accepted by SQLite and a 500 there.
"""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from mobileca.audit.models import AuditEvent
from mobileca.orders.models import Order
from mobileca.payments.models import Payment, PaymentEvent, StatementImport, StatementLine

CHECKOUT_URL = "/ca/purchase/mobile-ca/"
STATEMENTS_URL = "/backoffice/statements/"
ORDERS_URL = "/backoffice/orders/"
HEADER = ("交易流水号", "交易时间", "金额", "付款人户名", "付款人账号", "附言")


def stored() -> tuple[object, ...]:
    """Everything a refused form or import must leave as it was."""
    return (
        tuple(Order.objects.order_by("pk").values_list("pk", "status", "paid_at")),
        tuple(Payment.objects.order_by("pk").values_list("pk", "status", "paid_by_event")),
        PaymentEvent.objects.count(),
        StatementImport.objects.count(),
        tuple(StatementLine.objects.order_by("pk").values_list("pk", "status")),
        AuditEvent.objects.count(),
    )


# --- the purchase form -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("expected", ["1e9999999", "-1e9999999", "9" * 400, "1E+999999999"])
def test_an_absurd_expected_amount_on_the_purchase_form_is_refused_with_the_price_message(
    bidder_client: Client, expected: str
) -> None:
    # issue 14: expected_amount=1e9999999 was a 500 decimal.Overflow
    before = stored()
    response = bidder_client.post(
        CHECKOUT_URL,
        {"region": "jiangxi", "channel": "offline", "expected_amount": expected, "client_token": "t-1"},
    )
    assert response.status_code == 400
    assert "应付金额与当前价格不符，请刷新页面后重试" in response.content.decode()
    assert stored() == before


@pytest.mark.parametrize("expected", ["300.00", "３００.００", " 300 "])
def test_the_purchase_form_reads_the_amount_as_a_person_types_it(bidder_client: Client, expected: str) -> None:
    # lenient for a person's form: blanks and full-width digits are the same amount
    response = bidder_client.post(
        CHECKOUT_URL,
        {"region": "jiangxi", "channel": "offline", "expected_amount": expected, "client_token": "t-1"},
    )
    assert response.status_code == 302
    assert Order.objects.count() == 1


# --- statement import --------------------------------------------------------------------------------------------


def statement(*rows: tuple[str, ...]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode()


def line(txn: str = "TXN-1", at: str = "2025-05-23 10:15:00", amount: str = "300.00", **more: str) -> tuple[str, ...]:
    return (txn, at, amount, more.get("payer", "某某公司"), more.get("account", "6222"), more.get("memo", "货款"))


def import_messages(client: Client, raw: bytes) -> list[str]:
    response = client.post(
        STATEMENTS_URL, {"statement": SimpleUploadedFile("statement.csv", raw, "text/csv")}, follow=True
    )
    assert response.status_code == 200
    assert response.redirect_chain == [(STATEMENTS_URL, 302)]
    return [str(message) for message in response.context["messages"]]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (line(amount="1e9999999"), "第 3 行格式有误：金额应为精确到分的数字"),
        (line(amount="-1e9999999"), "第 3 行格式有误：金额应为精确到分的数字"),
        (line(amount="3e2"), "第 3 行格式有误：金额应为精确到分的数字"),
        (line(amount="+300.00"), "第 3 行格式有误：金额应为精确到分的数字"),
        (line(at="0001-01-01 00:00:00"), "第 3 行格式有误：交易时间超出有效范围"),
        (line(at="9999-12-31 23:59:59"), "第 3 行格式有误：交易时间超出有效范围"),
        (line(txn="TXN\x002"), "第 3 行格式有误：含有不允许的字符"),
        (line(payer="某某\x00公司"), "第 3 行格式有误：含有不允许的字符"),
        (line(memo="\x00"), "第 3 行格式有误：含有不允许的字符"),
    ],
    ids=[
        "amount 1e9999999",
        "amount -1e9999999",
        "amount 3e2",
        "amount +300.00",
        "dated 0001-01-01",
        "dated 9999-12-31",
        "NUL in the transaction id",
        "NUL in the payer",
        "NUL in the memo",
    ],
)
def test_a_statement_line_that_cannot_be_stored_refuses_the_whole_file_with_its_line_number(
    finance_client: Client, offline_order: tuple[Order, Payment], row: tuple[str, ...], message: str
) -> None:
    # issue 14: 1e9999999 was a decimal.Overflow, 0001-01-01 an OverflowError, NUL a 500 on PostgreSQL
    _, payment = offline_order
    good = line(txn="GOOD-1", memo=str(payment.memo_code))
    before = stored()
    assert import_messages(finance_client, statement(good, row)) == [message]
    assert stored() == before
    assert finance_client.get(STATEMENTS_URL).status_code == 200


def test_statement_amounts_keep_separators_and_debits(
    finance_client: Client, offline_order: tuple[Order, Payment]
) -> None:
    # what banks print still reads: thousands separators, a minus for a debit (ignored), full-width digits
    _, payment = offline_order
    raw = statement(
        line(txn="C-1", amount="1,300.00"),
        line(txn="D-1", amount="-300.00"),
        line(txn="C-2", amount="３００.００", memo=str(payment.memo_code)),
    )
    messages = import_messages(finance_client, raw)
    assert messages and messages[0].startswith("导入完成：2 笔入账")
    assert sorted(StatementLine.objects.values_list("bank_txn_id", "amount")) == [
        ("C-1", 1300),
        ("C-2", 300),
    ]
    payment.refresh_from_db()
    assert payment.status == "paid"


# --- the orders list ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=0001-01-01", "日期超出有效范围"),
        ("to=9999-12-31", "日期超出有效范围"),
        ("from=0001-01-01&to=0001-01-02", "日期超出有效范围"),
        ("from=2025-13-01", "日期格式应为 YYYY-MM-DD"),
    ],
)
def test_an_out_of_range_date_filter_on_the_orders_list_is_said_on_the_page(
    finance_client: Client, offline_order: tuple[Order, Payment], query: str, message: str
) -> None:
    # issue 14: GET /backoffice/orders/?from=0001-01-01 was a 500 OverflowError
    order, _ = offline_order
    response = finance_client.get(f"{ORDERS_URL}?{query}")
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    assert order.order_no in page  # the list still shows, without the bound it could not use


def test_a_date_filter_in_range_still_filters(finance_client: Client, offline_order: tuple[Order, Payment]) -> None:
    order, _ = offline_order
    day = timezone.localtime(order.created_at).date()  # the filter's dates are the platform's (Asia/Shanghai)
    assert order.order_no in finance_client.get(f"{ORDERS_URL}?from={day}&to={day}").content.decode()
    assert order.order_no not in finance_client.get(f"{ORDERS_URL}?from=9998-12-31").content.decode()
