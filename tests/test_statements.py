"""Bank statement import, automatic matching, the claim queue and returns (R1.6, R1.7, R2.2, R6.1, §8)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.cards.models import Card
from mobileca.core.clock import clock
from mobileca.core.ids import BEIJING, new_memo_code
from mobileca.orders.models import Order
from mobileca.payments.closing import payments_close_expired
from mobileca.payments.models import (
    LineStatus,
    Payment,
    PaymentEvent,
    StatementImport,
    StatementLine,
)
from mobileca.payments.statements import ImportResult, ParsedLine, statement_import, statement_parse
from tests.factories import OperatorWithoutFinanceFactory
from tests.support.audit import log_intact
from tests.support.platform import PRICE, actor_of, login, make_offline_order

T0 = datetime(2025, 5, 22, 9, 0, tzinfo=BEIJING)  # orders are placed at this moment
BOOKED = "2025-05-23 10:15:00"  # the day after, in Beijing time, as the bank prints it
BOOKED_AT = datetime(2025, 5, 23, 10, 15, tzinfo=BEIJING)
HEADER = ("交易流水号", "交易时间", "金额", "付款人户名", "付款人账号", "附言")
PAYER = "景德镇测试企业有限公司"
PAYER_ACCOUNT = "6222020200112233445"
STATEMENTS_URL = "/backoffice/statements/"


@pytest.fixture(autouse=True)
def _orders_placed_at_t0() -> Iterator[None]:
    with clock.frozen(T0):
        yield


# --- helpers ----------------------------------------------------------------------------------------------


def credit(txn: str, memo: str, amount: str = "300.00", at: str = BOOKED) -> tuple[str, ...]:
    return (txn, at, amount, PAYER, PAYER_ACCOUNT, memo)


def statement_csv(*rows: tuple[str, ...], header: tuple[str, ...] = HEADER, encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def import_statement(finance: User, raw: bytes, file_name: str = "statement.csv") -> ImportResult:
    return statement_import(file_name=file_name, raw=raw, operator=finance, actor=actor_of(finance))


def post_statement(client: Client, raw: bytes, file_name: str = "statement.csv") -> list[str]:
    return post_and_read_messages(client, STATEMENTS_URL, {"statement": SimpleUploadedFile(file_name, raw, "text/csv")})


def claim(client: Client, line: StatementLine, reference: str) -> list[str]:
    """认领, confirmed on its confirmation page (``confirm=yes``)."""
    return post_and_read_messages(
        client, f"/backoffice/statements/lines/{line.pk}/claim/", {"reference": reference, "confirm": "yes"}
    )


def return_line(client: Client, line: StatementLine, reason: str) -> list[str]:
    """退回, confirmed on its confirmation page (``confirm=yes``)."""
    return post_and_read_messages(
        client, f"/backoffice/statements/lines/{line.pk}/return/", {"reason": reason, "confirm": "yes"}
    )


def post_and_read_messages(client: Client, url: str, data: dict[str, object]) -> list[str]:
    """POST, follow the redirect back to the statement page, and read the messages shown there."""
    response = client.post(url, data, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == [(STATEMENTS_URL, 302)]
    return [str(message) for message in response.context["messages"]]


def line(txn: str) -> StatementLine:
    return StatementLine.objects.get(bank_txn_id=txn)


def audit_actions_after(seq: int) -> list[str]:
    return list(AuditEvent.objects.filter(pk__gt=seq).order_by("pk").values_list("action", flat=True))


def last_audit_seq() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


@dataclass(frozen=True)
class World:
    """Everything a refused request must leave exactly as it was."""

    orders: tuple[tuple[object, ...], ...]
    payments: tuple[tuple[object, ...], ...]
    cards: int
    payment_events: int
    audit_events: int
    imports: int
    lines: tuple[tuple[object, ...], ...]


def world() -> World:
    return World(
        orders=tuple(Order.objects.order_by("pk").values_list("pk", "status", "paid_at", "closed_at", "card_id")),
        payments=tuple(
            Payment.objects.order_by("pk").values_list("pk", "status", "paid_at", "closed_at", "paid_by_event")
        ),
        cards=Card.objects.count(),
        payment_events=PaymentEvent.objects.count(),
        audit_events=AuditEvent.objects.count(),
        imports=StatementImport.objects.count(),
        lines=tuple(StatementLine.objects.order_by("pk").values_list("pk", "status", "status_note", "payment_id")),
    )


def import_unmatched_line(
    finance: User, txn: str = "TXN-UNMATCHED", amount: str = "300.00", memo: str = "货款"
) -> StatementLine:
    result = import_statement(finance, statement_csv(credit(txn, memo, amount=amount)))
    assert (result.new, result.unmatched) == (1, 1)
    return line(txn)


# --- automatic matching -----------------------------------------------------------------------------------


def test_statement_line_with_memo_and_exact_amount_pays_the_order_and_creates_one_card(
    finance_client: Client, offline_order
) -> None:
    # R1.6: an imported statement line that matches memo code and amount pays the order; R2.2: the card
    order, payment = offline_order
    memo = f"景德镇CA货款 {payment.memo_code.lower()} 谢谢"  # embedded in other text, typed in lowercase
    seq = last_audit_seq()

    messages = post_statement(finance_client, statement_csv(credit("TXN-1", memo)))

    assert messages == ["导入完成：1 笔入账，新增 1 笔，自动匹配 1 笔，待认领 0 笔，待退款 0 笔"]
    order.refresh_from_db()
    payment.refresh_from_db()
    assert order.status == "paid"
    assert order.paid_at == BOOKED_AT
    assert payment.status == "paid"
    assert payment.paid_at == BOOKED_AT
    assert payment.paid_by_event == "statement:TXN-1"
    card = Card.objects.get()
    assert len(card.cert_id) == 17
    assert card.cert_id.isdigit()
    assert (card.enterprise_id, card.source_order_no, card.status) == (order.enterprise_id, order.order_no, "unclaimed")
    assert order.card_id == card.pk
    matched = line("TXN-1")
    assert (matched.status, matched.payment_id, matched.memo) == (LineStatus.MATCHED, payment.pk, memo)
    assert (matched.amount, matched.payer_name, matched.payer_account) == (PRICE, PAYER, PAYER_ACCOUNT)
    assert list(PaymentEvent.objects.values_list("event_key", "outcome")) == [("statement:TXN-1", "paid")]
    statement = StatementImport.objects.get()
    assert (statement.line_count, statement.new_count, statement.matched_count) == (1, 1, 1)
    assert audit_actions_after(seq) == [
        "statement.imported",
        "payment.paid",
        "order.paid",
        "card.created",
        "statement.line_matched",
    ]
    assert log_intact()


def test_statement_line_with_the_wrong_amount_goes_to_the_claim_queue_and_pays_nothing(
    finance: User, finance_client: Client, offline_order
) -> None:
    # R1.6, R1.7: a wrong amount is never paid; finance sees it in 「待认领到账」
    order, payment = offline_order
    before = world()
    seq = last_audit_seq()

    result = import_statement(finance, statement_csv(credit("TXN-1", payment.memo_code, amount="299.99")))

    assert (result.lines, result.new, result.matched, result.unmatched, result.refund) == (1, 1, 0, 1, 0)
    unmatched = line("TXN-1")
    assert (unmatched.status, unmatched.payment_id) == (LineStatus.UNMATCHED, None)
    assert unmatched.status_note == "金额与订单应付金额 300.00 不符"
    after = world()
    assert (after.orders, after.payments, after.cards, after.payment_events) == (
        before.orders,
        before.payments,
        before.cards,
        before.payment_events,
    )
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, payment.status, Card.objects.count(), PaymentEvent.objects.count()) == (
        "pending_payment",
        "pending",
        0,
        0,
    )
    assert audit_actions_after(seq) == ["statement.imported", "statement.line_unmatched"]
    page = finance_client.get(STATEMENTS_URL).content.decode()
    assert "TXN-1" in page
    assert "金额与订单应付金额 300.00 不符" in page


@pytest.mark.parametrize(
    "memo", ["", "货款", "景德镇CA货款 订单 20250522", "unknown"], ids=["empty", "text", "order-text", "unknown"]
)
def test_statement_line_without_a_known_memo_code_goes_to_the_claim_queue_and_pays_nothing(
    finance: User, offline_order, memo: str
) -> None:
    # R1.6: only the memo code identifies the order
    _, payment = offline_order
    if memo == "unknown":
        memo = new_memo_code()
        assert memo != payment.memo_code
    before = world()

    result = import_statement(finance, statement_csv(credit("TXN-1", memo)))

    assert (result.new, result.matched, result.unmatched) == (1, 0, 1)
    unmatched = line("TXN-1")
    assert (unmatched.status, unmatched.payment_id) == (LineStatus.UNMATCHED, None)
    assert unmatched.status_note == "附言中没有有效的汇款识别码"
    after = world()
    assert (after.orders, after.payments, after.cards, after.payment_events) == (before.orders, before.payments, 0, 0)


def test_importing_the_same_statement_twice_adds_no_line_and_pays_once(finance: User, offline_order) -> None:
    # R1.7: paid exactly once, whatever the number of times the statement is imported
    _, payment = offline_order
    raw = statement_csv(credit("TXN-1", payment.memo_code), credit("TXN-2", "别的款项", amount="50.00"))
    first = import_statement(finance, raw)
    assert (first.lines, first.new, first.matched, first.unmatched) == (2, 2, 1, 1)
    before = world()
    seq = last_audit_seq()

    second = import_statement(finance, raw)

    assert (second.lines, second.new, second.matched, second.unmatched, second.refund) == (2, 0, 0, 0, 0)
    after = world()
    assert after.lines == before.lines
    assert (after.orders, after.payments, after.cards, after.payment_events) == (before.orders, before.payments, 1, 1)
    assert StatementLine.objects.count() == 2
    assert list(StatementImport.objects.order_by("pk").values_list("line_count", "new_count", "matched_count")) == [
        (2, 2, 1),
        (2, 0, 0),
    ]
    assert audit_actions_after(seq) == ["statement.imported"]
    payment.refresh_from_db()
    assert (payment.status, payment.paid_by_event) == ("paid", "statement:TXN-1")


def test_a_second_credit_for_the_same_memo_is_a_duplicate_for_refund_and_makes_no_second_card(
    finance: User, finance_client: Client, offline_order
) -> None:
    # R1.7, §8: money paid twice is real money: kept for refund, never a second card
    order, payment = offline_order
    import_statement(finance, statement_csv(credit("TXN-1", payment.memo_code)))
    card = Card.objects.get()
    seq = last_audit_seq()

    result = import_statement(
        finance, statement_csv(credit("TXN-2", payment.memo_code, at="2025-05-24 08:00:00")), "day2.csv"
    )

    assert (result.new, result.matched, result.unmatched, result.refund) == (1, 0, 0, 1)
    duplicate = line("TXN-2")
    assert (duplicate.status, duplicate.payment_id) == (LineStatus.DUPLICATE, payment.pk)
    assert line("TXN-1").status == LineStatus.MATCHED
    assert list(Card.objects.values_list("pk", flat=True)) == [card.pk]
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, order.paid_at, order.card_id) == ("paid", BOOKED_AT, card.pk)
    assert (payment.status, payment.paid_by_event) == ("paid", "statement:TXN-1")
    assert list(PaymentEvent.objects.order_by("pk").values_list("event_key", "outcome")) == [
        ("statement:TXN-1", "paid"),
        ("statement:TXN-2", "already_paid"),
    ]
    assert audit_actions_after(seq) == ["statement.imported", "payment.extra_credit", "statement.line_duplicate"]
    page = finance_client.get(STATEMENTS_URL).content.decode()
    assert "待退款到账" in page
    assert "重复到账（待退款）" in page
    assert log_intact()


def test_credit_for_an_auto_closed_order_is_recorded_paid_late_for_refund_and_makes_no_card(
    finance: User, offline_order
) -> None:
    # R1.6, §7: the offline order closed after 7 days; money arriving afterwards is kept for refund
    order, payment = offline_order
    clock.advance(timedelta(days=7))
    assert payments_close_expired(actor=actor_of(finance)) == 1
    seq = last_audit_seq()

    result = import_statement(finance, statement_csv(credit("TXN-1", payment.memo_code, at="2025-05-30 11:00:00")))

    assert (result.new, result.matched, result.unmatched, result.refund) == (1, 0, 0, 1)
    late = line("TXN-1")
    assert (late.status, late.payment_id) == (LineStatus.PAID_LATE, payment.pk)
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, order.paid_at, order.card_id) == ("closed", None, None)
    assert order.closed_at == T0 + timedelta(days=7)
    assert payment.status == "paid_late"
    assert payment.paid_at == datetime(2025, 5, 30, 11, 0, tzinfo=BEIJING)
    assert payment.paid_by_event == "statement:TXN-1"
    assert Card.objects.count() == 0
    assert audit_actions_after(seq) == ["statement.imported", "payment.paid_late", "statement.line_paid_late"]
    assert log_intact()


def test_gbk_encoded_statement_is_parsed_and_matched(finance: User, offline_order) -> None:
    # R1.6: Chinese banks export GBK
    order, payment = offline_order
    memo = f"移动CA货款{payment.memo_code}"
    raw = statement_csv(credit("TXN-GBK", memo), encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # really not UTF-8

    result = import_statement(finance, raw)

    assert (result.new, result.matched) == (1, 1)
    stored = line("TXN-GBK")
    assert (stored.status, stored.payer_name, stored.memo) == (LineStatus.MATCHED, PAYER, memo)
    order.refresh_from_db()
    assert order.status == "paid"
    assert Card.objects.count() == 1


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_statement_parse_reads_beijing_time_and_exact_amounts(encoding: str) -> None:
    # R1.4: money is exact decimal; the bank prints Beijing time
    raw = statement_csv(
        ("A1", "2025-05-23 10:15:00", "1,300.00", " 某某公司 ", "6222", " 附言 MC "),
        ("A2", "2025-05-23 23:59:59", "0.01", "某某公司", "6222", ""),
        ("A3", "2025-05-24 00:00:00", "-300.00", "某某公司", "6222", "退款"),
        encoding=encoding,
    )

    parsed = statement_parse(raw)

    assert parsed == [
        ParsedLine("A1", BOOKED_AT, Decimal("1300.00"), "某某公司", "6222", "附言 MC"),
        ParsedLine("A2", datetime(2025, 5, 23, 23, 59, 59, tzinfo=BEIJING), Decimal("0.01"), "某某公司", "6222", ""),
        ParsedLine("A3", datetime(2025, 5, 24, tzinfo=BEIJING), Decimal("-300.00"), "某某公司", "6222", "退款"),
    ]


def test_debit_lines_are_ignored(finance: User, offline_order) -> None:
    # R1.6: only credits can pay an order; debits on the same account are not ours to match
    order, payment = offline_order
    raw = statement_csv(
        credit("DEBIT-1", payment.memo_code, amount="-300.00"),
        credit("ZERO-1", payment.memo_code, amount="0.00"),
        credit("CREDIT-1", "其他来款", amount="88.00"),
    )

    result = import_statement(finance, raw)

    assert (result.lines, result.new, result.matched, result.unmatched) == (1, 1, 0, 1)
    assert list(StatementLine.objects.values_list("bank_txn_id", "amount")) == [("CREDIT-1", Decimal("88.00"))]
    assert StatementImport.objects.get().line_count == 1
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, payment.status, Card.objects.count(), PaymentEvent.objects.count()) == (
        "pending_payment",
        "pending",
        0,
        0,
    )


# --- malformed files --------------------------------------------------------------------------------------


def _valid(memo: str) -> tuple[str, ...]:
    return credit("GOOD-1", memo)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(
            lambda memo: statement_csv(_valid(memo)[:5], header=HEADER[:5]), "银行流水缺少列：附言", id="missing-column"
        ),
        pytest.param(
            lambda memo: statement_csv(_valid(memo), header=("流水号", *HEADER[1:])),
            "银行流水缺少列：交易流水号",
            id="renamed-column",
        ),
        pytest.param(
            lambda memo: statement_csv(_valid(memo), credit("BAD-1", memo, at="2025/05/23 10:15")),
            "第 3 行格式有误：",
            id="bad-date",
        ),
        pytest.param(
            lambda memo: statement_csv(_valid(memo), credit("BAD-1", memo, at="")), "第 3 行格式有误：", id="no-date"
        ),
        pytest.param(
            lambda memo: statement_csv(_valid(memo), credit("BAD-1", memo, amount="12.345")),
            "第 3 行格式有误：",
            id="sub-fen-amount",
        ),
        pytest.param(
            lambda memo: statement_csv(_valid(memo), credit("BAD-1", memo, amount="abc")),
            "第 3 行格式有误：",
            id="text-amount",
        ),
        pytest.param(
            lambda memo: statement_csv(_valid(memo), credit("BAD-1", memo, amount="")),
            "第 3 行格式有误：",
            id="no-amount",
        ),
        pytest.param(
            lambda memo: statement_csv(_valid(memo), credit("BAD-1", memo, amount="NaN")),
            "第 3 行格式有误：",
            id="nan-amount",
        ),
        pytest.param(
            lambda memo: statement_csv(_valid(memo), credit("GOOD-1", "again", amount="1.00")),
            "第 3 行格式有误：交易流水号在文件中重复",
            id="duplicate-txn-id",
        ),
        pytest.param(
            lambda memo: statement_csv(_valid(memo), credit("", memo)),
            "第 3 行格式有误：交易流水号为空或超过 64 个字符",
            id="empty-txn-id",
        ),
        pytest.param(
            lambda memo: statement_csv(_valid(memo), credit("X" * 65, memo)),
            "第 3 行格式有误：交易流水号为空或超过 64 个字符",
            id="long-txn-id",
        ),
        pytest.param(
            lambda memo: b"\xff\xfe\xff" + statement_csv(_valid(memo)),
            "无法识别文件编码，请导出 UTF-8 或 GBK 编码的 CSV",
            id="undecodable",
        ),
    ],
)
def test_malformed_statement_is_refused_with_a_message_and_nothing_is_stored(
    finance_client: Client, offline_order, build, message: str
) -> None:
    # R1.6, §8: a bad file is refused whole, with a clear message; not even its good lines are stored
    order, payment = offline_order
    before = world()

    messages = post_statement(finance_client, build(payment.memo_code))

    assert len(messages) == 1
    assert messages[0].startswith(message)
    assert world() == before
    assert (StatementImport.objects.count(), StatementLine.objects.count()) == (0, 0)
    order.refresh_from_db()
    assert order.status == "pending_payment"


def test_empty_upload_is_refused_with_a_message(finance_client: Client, offline_order) -> None:
    # §8
    before = world()

    messages = post_statement(finance_client, b"", "empty.csv")

    assert messages == ["请选择银行流水文件（CSV）"]
    assert world() == before


def test_statement_with_an_absurd_amount_is_refused_with_a_message_and_nothing_is_stored(
    finance_client: Client, offline_order
) -> None:
    # §8: no user-visible 500, whatever the input
    _, payment = offline_order
    before = world()

    messages = post_statement(
        finance_client, statement_csv(credit("GOOD-1", payment.memo_code), credit("BAD-1", "x", amount="1e30"))
    )

    assert len(messages) == 1
    assert messages[0].startswith("第 3 行格式有误：")
    assert world() == before


def test_statement_with_an_amount_too_large_for_the_ledger_is_refused_and_the_page_keeps_working(
    finance_client: Client, offline_order
) -> None:
    # §8: no user-visible 500; nothing stored from a bad file
    _, payment = offline_order
    before = world()

    messages = post_statement(
        finance_client,
        statement_csv(credit("GOOD-1", payment.memo_code), credit("BAD-1", "x", amount="10000000000.00")),
    )

    assert len(messages) == 1
    assert messages[0].startswith("第 3 行格式有误：")
    assert world() == before
    assert finance_client.get(STATEMENTS_URL).status_code == 200


def test_statement_with_an_oversized_field_is_refused_with_a_message_and_nothing_is_stored(
    finance_client: Client, offline_order
) -> None:
    # §8
    _, payment = offline_order
    before = world()

    messages = post_statement(
        finance_client, statement_csv(credit("GOOD-1", payment.memo_code), credit("BAD-1", "附" * 140_000))
    )

    assert len(messages) == 1
    assert not messages[0].startswith("导入完成")
    assert world() == before


def test_row_with_an_unterminated_quote_is_refused_rather_than_swallowing_the_following_rows(
    finance_client: Client, offline_order
) -> None:
    # R1.6, §8: every credit in the file is imported, or the file is refused
    _, payment = offline_order
    raw = (
        "\r\n".join(
            [
                ",".join(HEADER),
                f'TXN-1,{BOOKED},88.00,{PAYER},{PAYER_ACCOUNT},"货款',
                f"TXN-2,{BOOKED},300.00,{PAYER},{PAYER_ACCOUNT},{payment.memo_code}",
            ]
        )
        + "\r\n"
    ).encode()
    before = world()

    messages = post_statement(finance_client, raw)

    assert len(messages) == 1
    assert not messages[0].startswith("导入完成")
    assert world() == before


# --- claim ------------------------------------------------------------------------------------------------


def test_finance_claims_an_unmatched_line_by_order_number_and_the_order_is_paid(
    finance: User, finance_client: Client, offline_order
) -> None:
    # R1.6: finance assigns a credit whose memo was mistyped to its order
    order, payment = offline_order
    unmatched = import_unmatched_line(finance, memo="CA费用")
    seq = last_audit_seq()

    messages = claim(finance_client, unmatched, f" {order.order_no} ")

    assert messages == ["认领完成：已人工认领"]
    unmatched.refresh_from_db()
    assert (unmatched.status, unmatched.payment_id) == (LineStatus.CLAIMED, payment.pk)
    assert unmatched.status_note == f"人工认领：{order.order_no}"
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, order.paid_at) == ("paid", BOOKED_AT)
    assert (payment.status, payment.paid_by_event) == ("paid", "statement:TXN-UNMATCHED")
    card = Card.objects.get()
    assert (card.source_order_no, order.card_id, len(card.cert_id)) == (order.order_no, card.pk, 17)
    assert list(PaymentEvent.objects.values_list("event_key", "outcome")) == [("statement:TXN-UNMATCHED", "paid")]
    assert audit_actions_after(seq) == ["payment.paid", "order.paid", "card.created", "statement.line_claimed"]
    assert AuditEvent.objects.get(action="payment.paid").actor == f"operator:{finance.pk}"
    assert log_intact()


def test_finance_claims_an_unmatched_line_by_memo_code_typed_in_lowercase(
    finance: User, finance_client: Client, offline_order
) -> None:
    # R1.6
    order, payment = offline_order
    unmatched = import_unmatched_line(finance)

    messages = claim(finance_client, unmatched, payment.memo_code.lower())

    assert messages == ["认领完成：已人工认领"]
    unmatched.refresh_from_db()
    assert (unmatched.status, unmatched.payment_id) == (LineStatus.CLAIMED, payment.pk)
    assert unmatched.status_note == f"人工认领：{payment.memo_code}"
    order.refresh_from_db()
    assert order.status == "paid"
    assert Card.objects.count() == 1


def test_claim_with_an_amount_different_from_the_order_is_refused_and_nothing_changes(
    finance: User, finance_client: Client, offline_order
) -> None:
    # R1.7: a wrong amount is never paid, not even by hand
    order, payment = offline_order
    unmatched = import_unmatched_line(finance, amount="299.00", memo=payment.memo_code)
    before = world()

    messages = claim(finance_client, unmatched, order.order_no)

    assert messages == ["到账金额 299.00 与订单应付金额 300.00 不符，不能认领"]
    assert world() == before
    unmatched.refresh_from_db()
    assert unmatched.status == LineStatus.UNMATCHED
    order.refresh_from_db()
    assert (order.status, Card.objects.count(), PaymentEvent.objects.count()) == ("pending_payment", 0, 0)


@pytest.mark.parametrize("reference", ["20250101000000ABCDEFGH", "MC23456789", "", "   "])
def test_claim_with_an_unknown_reference_is_refused_and_nothing_changes(
    finance: User, finance_client: Client, offline_order, reference: str
) -> None:
    # R1.6
    unmatched = import_unmatched_line(finance)
    before = world()

    messages = claim(finance_client, unmatched, reference)

    assert messages == ["未找到该订单号或汇款识别码对应的线下汇款订单"]
    assert world() == before


@pytest.mark.parametrize("processed_as", ["matched", "returned", "claimed"])
def test_claiming_a_line_that_was_already_processed_is_refused_and_nothing_changes(
    finance: User, finance_client: Client, bidder: User, offline_order, processed_as: str
) -> None:
    # R1.7: one credit pays at most one order
    order, payment = offline_order
    other_order, other_payment = make_offline_order(bidder, token="tok-2")
    if processed_as == "matched":
        import_statement(finance, statement_csv(credit("TXN-1", payment.memo_code)))
    else:
        import_unmatched_line(finance, txn="TXN-1")
        if processed_as == "returned":
            assert return_line(finance_client, line("TXN-1"), "非本平台款项") == ["已登记退回"]
        else:
            assert claim(finance_client, line("TXN-1"), order.order_no) == ["认领完成：已人工认领"]
    before = world()

    messages = claim(finance_client, line("TXN-1"), other_order.order_no)

    assert messages == ["该到账记录已处理"]
    assert world() == before
    other_order.refresh_from_db()
    other_payment.refresh_from_db()
    assert (other_order.status, other_payment.status) == ("pending_payment", "pending")


def test_claiming_a_line_that_does_not_exist_is_refused(finance_client: Client, offline_order) -> None:
    # §8
    order, _ = offline_order
    before = world()

    messages = post_and_read_messages(
        finance_client, "/backoffice/statements/lines/999999/claim/", {"reference": order.order_no, "confirm": "yes"}
    )

    assert messages == ["未找到该到账记录"]
    assert world() == before


# --- return -----------------------------------------------------------------------------------------------


def test_finance_returns_an_unmatched_line_with_a_reason(finance: User, finance_client: Client, offline_order) -> None:
    # R6.1: a credit that belongs to no order goes back to its payer, with a reason
    unmatched = import_unmatched_line(finance, amount="88.00")
    before = world()
    seq = last_audit_seq()

    messages = return_line(finance_client, unmatched, "  非本平台款项，已原路退回  ")

    assert messages == ["已登记退回"]
    unmatched.refresh_from_db()
    assert (unmatched.status, unmatched.status_note, unmatched.payment_id) == (
        LineStatus.RETURNED,
        "非本平台款项，已原路退回",
        None,
    )
    after = world()
    assert (after.orders, after.payments, after.cards, after.payment_events) == (
        before.orders,
        before.payments,
        before.cards,
        before.payment_events,
    )
    event = AuditEvent.objects.get(pk__gt=seq)
    assert (event.action, event.subject, event.actor) == (
        "statement.line_returned",
        "statement_line:TXN-UNMATCHED",
        f"operator:{finance.pk}",
    )
    assert event.data == {"note": "非本平台款项，已原路退回", "amount": "88.00", "payment": None}
    assert "TXN-UNMATCHED" not in finance_client.get(STATEMENTS_URL).content.decode()


@pytest.mark.parametrize("reason", ["", "   "])
def test_return_without_a_reason_is_refused_and_nothing_changes(
    finance: User, finance_client: Client, offline_order, reason: str
) -> None:
    # §8
    unmatched = import_unmatched_line(finance)
    before = world()

    messages = return_line(finance_client, unmatched, reason)

    assert messages == ["请填写退回原因"]
    assert world() == before


def test_a_matched_line_cannot_be_returned(finance: User, finance_client: Client, offline_order) -> None:
    # R1.7: money that paid an order is not also sent back
    _, payment = offline_order
    import_statement(finance, statement_csv(credit("TXN-1", payment.memo_code)))
    before = world()

    messages = return_line(finance_client, line("TXN-1"), "误操作")

    assert messages == ["该到账记录不需要退回"]
    assert world() == before


# --- who may -----------------------------------------------------------------------------------------------


def test_finance_sees_the_statement_page(finance_client: Client) -> None:
    # R6.1
    response = finance_client.get(STATEMENTS_URL)

    assert response.status_code == 200
    assert "银行流水与认领" in response.content.decode()


@pytest.mark.parametrize("who", ["bidder", "support"])
def test_statement_pages_require_the_finance_permission(finance: User, bidder: User, offline_order, who: str) -> None:
    # R6.1: only finance imports statements, claims and returns credits
    _, payment = offline_order
    user = bidder if who == "bidder" else OperatorWithoutFinanceFactory()
    client = login(Client(), user)
    unmatched = import_unmatched_line(finance)
    before = world()

    responses = [
        client.get(STATEMENTS_URL),
        client.post(
            STATEMENTS_URL,
            {"statement": SimpleUploadedFile("s.csv", statement_csv(credit("TXN-2", payment.memo_code)), "text/csv")},
        ),
        client.post(
            f"/backoffice/statements/lines/{unmatched.pk}/claim/", {"reference": payment.memo_code, "confirm": "yes"}
        ),
        client.post(f"/backoffice/statements/lines/{unmatched.pk}/return/", {"reason": "退回", "confirm": "yes"}),
    ]

    assert [response.status_code for response in responses] == [403, 403, 403, 403]
    assert "仅财务人员可以访问此页面" in responses[0].content.decode()
    assert world() == before


def test_anonymous_user_is_sent_to_login_from_the_statement_pages(client: Client, finance: User, offline_order) -> None:
    # R6.1
    _, payment = offline_order
    unmatched = import_unmatched_line(finance)
    before = world()

    responses = [
        client.get(STATEMENTS_URL),
        client.post(
            STATEMENTS_URL,
            {"statement": SimpleUploadedFile("s.csv", statement_csv(credit("TXN-2", payment.memo_code)), "text/csv")},
        ),
        client.post(f"/backoffice/statements/lines/{unmatched.pk}/claim/", {"reference": payment.memo_code}),
    ]

    assert [response.status_code for response in responses] == [302, 302, 302]
    assert [response["Location"] for response in responses] == [
        "/accounts/login/?next=/backoffice/statements/",
        "/accounts/login/?next=/backoffice/statements/",
        f"/accounts/login/?next=/backoffice/statements/lines/{unmatched.pk}/claim/",
    ]
    assert world() == before
