"""Bank-statement reconciliation (R1.6, R1.7): import a statement, match each credit by memo code and exact amount,
finance's claim queue for the rest, and the return of money that pays no order."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from mobileca.accounts.models import User
from mobileca.audit.services import Actor, audit_record
from mobileca.core import inputs
from mobileca.core.clock import now
from mobileca.core.errors import Conflict, InvalidInput, NotFound
from mobileca.core.ids import BEIJING, MEMO_ALPHABET, MEMO_PREFIX, is_valid_memo_code
from mobileca.core.money import MAX_AMOUNT
from mobileca.orders.models import Order, PaymentChannel
from mobileca.payments.locks import lock_payment_with_order
from mobileca.payments.models import LineStatus, Payment, StatementImport, StatementLine
from mobileca.payments.observe import Observation, Outcome, payment_observe_locked
from mobileca.payments.refunds import payment_refund_record
from mobileca.payments.transitions import statement_line_status_move

# --- bank statements ---------------------------------------------------------------------------------------

STATEMENT_COLUMNS = ("交易流水号", "交易时间", "金额", "付款人户名", "付款人账号", "附言")
_MEMO_RE = re.compile(rf"{MEMO_PREFIX}[{MEMO_ALPHABET}]{{8}}")


@dataclass(frozen=True)
class ParsedLine:
    bank_txn_id: str
    booked_at: datetime
    amount: Decimal
    payer_name: str
    payer_account: str
    memo: str


@dataclass(frozen=True)
class ImportResult:
    statement_id: int
    lines: int
    new: int
    matched: int
    unmatched: int
    refund: int


def statement_parse(raw: bytes) -> list[ParsedLine]:
    """Parse a statement CSV (UTF-8 or GBK) with the columns of ``STATEMENT_COLUMNS``. All or nothing."""
    text = None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        raise InvalidInput(_("无法识别文件编码，请导出 UTF-8 或 GBK 编码的 CSV"), code="statement_encoding")
    reader = csv.DictReader(io.StringIO(text), strict=True)
    try:
        missing = [column for column in STATEMENT_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise InvalidInput(
                _("银行流水缺少列：{columns}").format(columns="、".join(missing)), code="statement_columns"
            )
        lines = [_statement_row(number, row) for number, row in enumerate(reader, start=2)]
    except csv.Error as exc:
        raise InvalidInput(
            _("银行流水第 {line} 行附近 CSV 格式有误（引号不配对或字段过长）").format(line=reader.line_num),
            code="statement_csv",
        ) from exc
    _refuse_duplicate_ids(lines)
    return lines


def _statement_amount(text: str) -> Decimal:
    """A bank's amount column: thousands separators allowed, a leading minus for a debit, otherwise exactly
    ``digits[.d[d]]`` within what the ledger holds (``1e9999999`` was a ``decimal.Overflow``)."""
    text = text.strip().replace(",", "")
    debit = text.startswith("-")
    value = inputs.amount(text.removeprefix("-"), maximum=MAX_AMOUNT, lenient=True)
    return -value if debit else value


def _statement_row(number: int, row: dict[str, str | None]) -> ParsedLine:
    def refuse(what: str) -> InvalidInput:
        return InvalidInput(_("第 {number} 行格式有误：{what}").format(number=number, what=what), code="statement_row")

    cells = {column: row.get(column) or "" for column in STATEMENT_COLUMNS}
    if any("\x00" in value for value in cells.values()):
        raise refuse(_("含有不允许的字符"))  # PostgreSQL cannot store NUL; refused on every database
    txn_id = cells["交易流水号"].strip()
    if not txn_id or len(txn_id) > 64:
        raise refuse(_("交易流水号为空或超过 64 个字符"))
    try:
        booked = datetime.strptime(cells["交易时间"].strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise refuse(_("交易时间应为 YYYY-MM-DD HH:MM:SS")) from None
    if not inputs.in_date_range(booked):
        raise refuse(_("交易时间超出有效范围")) from None
    try:
        amount = _statement_amount(cells["金额"])
    except inputs.BadInput:
        raise refuse(_("金额应为精确到分的数字")) from None
    return ParsedLine(
        bank_txn_id=txn_id,
        booked_at=booked.replace(tzinfo=BEIJING),
        amount=amount,
        payer_name=cells["付款人户名"].strip()[:200],
        payer_account=cells["付款人账号"].strip()[:64],
        memo=cells["附言"].strip()[:200],
    )


def _refuse_duplicate_ids(lines: list[ParsedLine]) -> None:
    seen: set[str] = set()
    for number, line in enumerate(lines, start=2):
        if line.bank_txn_id in seen:
            raise InvalidInput(
                _("第 {number} 行格式有误：交易流水号在文件中重复").format(number=number), code="statement_row"
            )
        seen.add(line.bank_txn_id)


def statement_import(*, file_name: str, raw: bytes, operator: User, actor: Actor) -> ImportResult:
    """Store the statement's new credit lines, then match each by memo code and exact amount.

    Lines are stored first (one transaction); each is then matched in its own transaction together with the payment
    it pays. A line that was stored but never looked at (an interrupted import) is matched when the same statement
    is imported again.
    """
    parsed = [line for line in statement_parse(raw) if line.amount > 0]  # debits are not ours to match
    txn_ids = [line.bank_txn_id for line in parsed]
    with transaction.atomic(durable=True):
        statement = StatementImport.objects.create(
            file_name=file_name[:200],
            sha256=hashlib.sha256(raw).hexdigest(),
            imported_by=operator,
            imported_at=now(),
            line_count=len(parsed),
        )
        known = set(StatementLine.objects.filter(bank_txn_id__in=txn_ids).values_list("bank_txn_id", flat=True))
        fresh = [
            StatementLine(
                statement=statement,
                bank_txn_id=line.bank_txn_id,
                booked_at=line.booked_at,
                amount=line.amount,
                payer_name=line.payer_name,
                payer_account=line.payer_account,
                memo=line.memo,
            )
            for line in parsed
            if line.bank_txn_id not in known
        ]
        # Another import may book the same transaction at the same moment: the unique index keeps one.
        StatementLine.objects.bulk_create(fresh, ignore_conflicts=True)
        statement.new_count = StatementLine.objects.filter(statement=statement).count()
        statement.save(update_fields=["new_count"])
        audit_record(
            action="statement.imported",
            subject=f"statement:{statement.pk}",
            actor=actor,
            data={
                "file": statement.file_name,
                "lines": len(parsed),
                "new": statement.new_count,
                "sha256": statement.sha256,
            },
        )
    counts = dict.fromkeys(LineStatus, 0)
    pending = StatementLine.objects.filter(bank_txn_id__in=txn_ids, attempted=False).order_by("booked_at", "id")
    for line_id in pending.values_list("pk", flat=True):
        status = statement_line_match(line_id=line_id, actor=actor)
        if status is not None:  # None: another import (running at the same time) matched it
            counts[status] += 1
    matched = counts[LineStatus.MATCHED]
    StatementImport.objects.filter(pk=statement.pk).update(matched_count=matched)
    return ImportResult(
        statement_id=statement.pk,
        lines=len(parsed),
        new=statement.new_count,
        matched=matched,
        unmatched=counts[LineStatus.UNMATCHED],
        refund=counts[LineStatus.PAID_LATE] + counts[LineStatus.DUPLICATE],
    )


_LINE_STATUS_FOR = {
    Outcome.PAID: LineStatus.MATCHED,
    Outcome.SETTLED: LineStatus.MATCHED,
    Outcome.PAID_LATE: LineStatus.PAID_LATE,
    Outcome.ALREADY_PAID: LineStatus.DUPLICATE,
}


def _payment_id_by_memo(memo: str) -> int | None:
    found = _MEMO_RE.search(memo.upper().replace(" ", ""))
    if found is None or not is_valid_memo_code(found.group(0)):
        return None
    return Payment.objects.filter(memo_code=found.group(0)).values_list("pk", flat=True).first()


def _lock_line(line_id: int) -> StatementLine:
    line = StatementLine.objects.select_for_update().filter(pk=line_id).first()
    if line is None:
        raise NotFound(_("未找到该到账记录"))
    return line


@transaction.atomic(durable=True)
def statement_line_match(*, line_id: int, actor: Actor) -> LineStatus | None:
    """Match one credit by the memo code in its 附言 and its exact amount; apply it with the payment it pays.

    ``None`` when the line had already been looked at (by another import): it is counted there, not here."""
    memo = StatementLine.objects.filter(pk=line_id).values_list("memo", flat=True).first() or ""
    payment_id = _payment_id_by_memo(memo)
    order, payment = lock_payment_with_order(payment_id) if payment_id else (None, None)  # house lock order
    line = _lock_line(line_id)
    if line.attempted or line.status != LineStatus.UNMATCHED:
        return None
    if order is None or payment is None:
        return _unmatched(line, "附言中没有有效的汇款识别码", actor=actor)
    if line.amount != payment.amount:
        return _unmatched(line, f"金额与订单应付金额 {payment.amount} 不符", actor=actor)
    return _line_apply(line=line, order=order, payment=payment, actor=actor, note="", claimed=False)


def _unmatched(line: StatementLine, note: str, *, actor: Actor) -> LineStatus:
    return statement_line_status_move(line=line, target=LineStatus.UNMATCHED, note=note, actor=actor)


def _line_apply(
    *, line: StatementLine, order: Order, payment: Payment, actor: Actor, note: str, claimed: bool
) -> LineStatus:
    outcome = payment_observe_locked(
        order=order,
        payment=payment,
        observation=Observation(
            kind="paid",
            event_key=f"statement:{line.bank_txn_id}",
            amount=line.amount,
            at=line.booked_at,
            payload={"payer": line.payer_name, "account": line.payer_account, "memo": line.memo},
            credit=True,
        ),
        actor=actor,
    )
    if outcome not in _LINE_STATUS_FOR:
        # The inbox already holds this credit although the line is unmatched: refuse rather than guess.
        raise Conflict(_("该到账记录已入账，请刷新后重试"), code=f"line_{outcome.value}")
    status = _LINE_STATUS_FOR[outcome]
    if claimed and status == LineStatus.MATCHED:
        status = LineStatus.CLAIMED
    return statement_line_status_move(
        line=line, target=status, note=note, actor=actor, payment=payment, enterprise_id=order.enterprise_id
    )


def statement_claim_refusal(line: StatementLine, payment: Payment | None) -> None:
    """Why ``line`` cannot pay ``payment`` (the offline payment a typed reference names), raised; nothing when it
    can. The claim checks it under the locks; the back office's confirmation page asks it first, unlocked."""
    if line.status != LineStatus.UNMATCHED:
        raise Conflict(_("该到账记录已处理"), code="line_not_unmatched")
    if payment is None:
        raise NotFound(_("未找到该订单号或汇款识别码对应的线下汇款订单"))
    if line.amount != payment.amount:
        raise InvalidInput(
            _("到账金额 {received} 与订单应付金额 {due} 不符，不能认领").format(
                received=line.amount, due=payment.amount
            ),
            code="amount_mismatch",
        )


@transaction.atomic(durable=True)
def statement_line_claim(*, line_id: int, reference: str, actor: Actor) -> LineStatus:
    """Finance assigns an unmatched credit to an order (by order number or memo code); the amount must match."""
    reference = reference.strip().upper()
    payment_id = (
        Payment.objects.filter(memo_code=reference).values_list("pk", flat=True).first()
        or Payment.objects.filter(order__order_no=reference, channel=PaymentChannel.OFFLINE)
        .values_list("pk", flat=True)
        .first()
    )
    order, payment = lock_payment_with_order(payment_id) if payment_id else (None, None)  # house lock order
    line = _lock_line(line_id)
    statement_claim_refusal(line, payment)
    assert order is not None and payment is not None  # refused above otherwise
    return _line_apply(
        line=line, order=order, payment=payment, actor=actor, note=f"人工认领：{reference}", claimed=True
    )


def statement_return_refusal(line: StatementLine | None, reason: str) -> None:
    """Why ``line`` cannot be recorded as returned with ``reason``, raised (the reason alone when no line is given
    yet); nothing when it can. The return checks it under the locks; the back office's confirmation page first."""
    if not reason.strip():
        raise InvalidInput(_("请填写退回原因"), code="reason_required")
    if line is not None and line.status not in (LineStatus.UNMATCHED, LineStatus.PAID_LATE, LineStatus.DUPLICATE):
        raise Conflict(_("该到账记录不需要退回"), code="line_not_returnable")


@transaction.atomic(durable=True)
def statement_line_return(*, line_id: int, reason: str, actor: Actor, operator: User) -> None:
    """Finance returns a credit that pays no order (unmatched, after closing, or a second time) to its payer.

    A credit that arrived after its order closed is that payment's refund: recorded once by the one refund writer,
    whichever door finance used first (this line or the refunds page).
    """
    reason = reason.strip()
    statement_return_refusal(None, reason)
    payment_id = StatementLine.objects.filter(pk=line_id).values_list("payment_id", flat=True).first()
    order, payment = lock_payment_with_order(payment_id) if payment_id else (None, None)  # house lock order
    line = _lock_line(line_id)
    statement_return_refusal(line, reason)
    if line.status == LineStatus.PAID_LATE and order is not None and payment is not None:
        payment_refund_record(
            order=order, payment=payment, method="offline", note=reason, fee="", operator=operator, actor=actor
        )
        return  # the refund returned its line
    statement_line_status_move(
        line=line,
        target=LineStatus.RETURNED,
        note=reason,
        actor=actor,
        payment=payment,
        enterprise_id=order.enterprise_id if order else None,
    )
