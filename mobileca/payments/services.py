"""Payment writes: checkout, the one observation writer, remittance review, statement import, auto-close."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import FileResponse
from django.utils.translation import gettext as _

from mobileca.accounts.models import Enterprise, User
from mobileca.audit.services import Actor, audit_record
from mobileca.cards.models import Card, CardStatus
from mobileca.cards.services import card_create_for_order, card_renewal_paid
from mobileca.core.clock import now
from mobileca.core.errors import Conflict, InvalidInput, NotFound
from mobileca.core.ids import BEIJING, MEMO_ALPHABET, MEMO_PREFIX, is_valid_memo_code, new_memo_code, new_order_no
from mobileca.core.money import yuan
from mobileca.core.states import ensure_transition
from mobileca.core.uploads import sniff_voucher_type
from mobileca.notices.services import notify
from mobileca.orders.models import Order, OrderKind, OrderStatus, PaymentChannel, Product
from mobileca.orders.services import order_attach_card, order_close, order_create, order_mark_paid
from mobileca.payments.locks import lock_payment_with_order
from mobileca.payments.models import (
    PAYMENT_TRANSITIONS,
    LineStatus,
    Payment,
    PaymentEvent,
    PaymentStatus,
    RemittanceVoucher,
    StatementImport,
    StatementLine,
    VoucherStatus,
)
from mobileca.physical.services import application_approved, shipment_create

log = logging.getLogger(__name__)


# --- checkout ---------------------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def checkout(
    *,
    user: User,
    enterprise: Enterprise,
    product_code: str,
    region_code: str,
    channel: str,
    expected_amount: Decimal | None,
    client_token: str,
    actor: Actor,
    renew_card_id: int | None = None,
) -> Order:
    """「确认并支付」: create the order (once per client token) and its payment attempt for the channel."""
    if renew_card_id is not None and not Order.objects.filter(created_by=user, client_token=client_token).exists():
        _refuse_unless_renewable(enterprise, renew_card_id)
    product = Product.objects.filter(code=product_code).first()
    if product is not None and product.needs_application and not application_approved(enterprise.pk):
        raise InvalidInput(_("首次购买实体 CA 需先提交「CA 办理申请」并通过审核"), code="application_required")
    order, created = order_create(
        renew_card_id=renew_card_id,
        user=user,
        enterprise=enterprise,
        product_code=product_code,
        region_code=region_code,
        channel=channel,
        expected_amount=expected_amount,
        client_token=client_token,
        actor=actor,
    )
    if created:
        _payment_start(order=order, actor=actor)
    return order


def _refuse_unless_renewable(enterprise: Enterprise, card_id: int) -> None:
    card = Card.objects.filter(pk=card_id, enterprise=enterprise).first()
    if card is None:
        raise InvalidInput(_("未找到要续费的证书"), code="card_unknown")
    if card.status == CardStatus.UNCLAIMED:
        raise InvalidInput(_("该证书尚未申领开通，无需续费"), code="card_not_claimed")
    if card.renewal_order_no:
        raise InvalidInput(_("该证书已有待申领的续费，请先扫码完成续费"), code="renewal_pending")
    if Order.objects.filter(card_id=card_id, kind=OrderKind.RENEWAL, status=OrderStatus.PENDING_PAYMENT).exists():
        raise InvalidInput(
            _("该证书已有待支付的续费订单，请在「CA 新购」的待支付订单中继续支付"), code="renewal_unpaid"
        )


def _payment_start(*, order: Order, actor: Actor) -> Payment:
    for _attempt in range(5):
        try:
            with transaction.atomic():
                payment = Payment.objects.create(
                    order=order,
                    channel=order.channel,
                    out_trade_no=new_order_no(order.created_at),
                    amount=order.amount,
                    created_at=order.created_at,
                    memo_code=new_memo_code() if order.channel == PaymentChannel.OFFLINE else None,
                )
                audit_record(
                    action="payment.started",
                    subject=f"payment:{payment.out_trade_no}",
                    actor=actor,
                    enterprise_id=order.enterprise_id,
                    data={"order": order.order_no, "channel": payment.channel, "memo": payment.memo_code},
                )
                return payment
        except IntegrityError:
            continue  # a memo code or trade number clash: draw again
    raise RuntimeError("could not allocate a unique payment reference")


# --- the one writer ---------------------------------------------------------------------------------------


class Outcome(StrEnum):
    PAID = "paid"
    SETTLED = "settled"  # the credit behind an earlier finance confirmation: nothing more to do
    PAID_LATE = "paid_late"
    ALREADY_PAID = "already_paid"  # a second credit for a paid order: real money, to be refunded
    DUPLICATE_EVENT = "duplicate_event"  # the same observation again: nothing to do
    AMOUNT_MISMATCH = "amount_mismatch"
    CLOSED = "closed"
    NOOP = "noop"


@dataclass(frozen=True)
class Observation:
    """Something we learnt about a payment, from wherever it came."""

    kind: str  # "paid" | "closed" | "status" (recorded, changes nothing: a refund or close notice, a pending trade)
    event_key: str  # unique per channel: the inbox refuses a second copy
    amount: Decimal | None
    at: datetime
    payload: dict[str, Any]
    # True when the money itself was seen (a bank credit, a gateway notification or query); False for a person's
    # word that it arrived (finance confirmation).
    credit: bool = False
    # Which money this is: the bank transaction or the gateway's trade number. The same money seen again through
    # another door (a notification, then a query) is not a second payment. Defaults to the event key.
    credit_ref: str = ""

    @property
    def money_ref(self) -> str:
        return self.credit_ref or self.event_key


@transaction.atomic(durable=True)
def payment_observe(*, payment_id: int, observation: Observation, actor: Actor) -> Outcome:
    order, payment = lock_payment_with_order(payment_id)
    return _observe_locked(order=order, payment=payment, observation=observation, actor=actor)


def _observe_locked(*, order: Order, payment: Payment, observation: Observation, actor: Actor) -> Outcome:
    """Record the observation in the inbox, then apply it. The caller holds the order and payment locks."""
    try:
        with transaction.atomic():
            event = PaymentEvent.objects.create(
                channel=payment.channel,
                event_key=observation.event_key,
                payment=payment,
                kind=observation.kind,
                amount=observation.amount,
                payload=observation.payload,
                outcome="pending",
                received_at=now(),
            )
    except IntegrityError:
        return Outcome.DUPLICATE_EVENT
    outcome = _apply(order=order, payment=payment, observation=observation, actor=actor)
    event.outcome = outcome.value
    event.save(update_fields=["outcome"])
    return outcome


def _apply(*, order: Order, payment: Payment, observation: Observation, actor: Actor) -> Outcome:
    subject = f"payment:{payment.out_trade_no}"

    def record(action: str, **data: Any) -> None:
        audit_record(
            action=action,
            subject=subject,
            actor=actor,
            enterprise_id=order.enterprise_id,
            data={"event": observation.event_key, "amount": str(observation.amount), **data},
        )

    if observation.kind == "status":
        return Outcome.NOOP
    if observation.kind == "closed":
        if payment.status != PaymentStatus.PENDING:
            return Outcome.NOOP
        _payment_move(payment, PaymentStatus.CLOSED)
        payment.closed_at = observation.at
        payment.save(update_fields=["status", "closed_at"])
        record("payment.closed")
        order_close(order=order, actor=actor, reason="expired")
        return Outcome.CLOSED
    if observation.amount != payment.amount:
        record("payment.refused", reason="amount_mismatch")
        return Outcome.AMOUNT_MISMATCH
    if observation.credit and payment.settled_by_event == observation.money_ref:
        return Outcome.NOOP  # the same money, seen again through another door
    if payment.status == PaymentStatus.PAID and observation.credit and not payment.settled_by_event:
        payment.settled_by_event = observation.money_ref
        payment.save(update_fields=["settled_by_event"])
        record("payment.settled")
        return Outcome.SETTLED
    if payment.status in (PaymentStatus.PAID, PaymentStatus.PAID_LATE, PaymentStatus.REFUNDED):
        record("payment.extra_credit")
        return Outcome.ALREADY_PAID
    settled_by = observation.money_ref if observation.credit else ""
    if payment.status == PaymentStatus.CLOSED:
        _payment_move(payment, PaymentStatus.PAID_LATE)
        payment.paid_at, payment.paid_by_event, payment.settled_by_event = (
            observation.at,
            observation.event_key,
            settled_by,
        )
        payment.save(update_fields=["status", "paid_at", "paid_by_event", "settled_by_event"])
        record("payment.paid_late")
        return Outcome.PAID_LATE
    _payment_move(payment, PaymentStatus.PAID)
    payment.paid_at, payment.paid_by_event, payment.settled_by_event = observation.at, observation.event_key, settled_by
    payment.save(update_fields=["status", "paid_at", "paid_by_event", "settled_by_event"])
    record("payment.paid")
    _vouchers_accept(order=order, payment=payment, actor=actor)
    order_mark_paid(order=order, paid_at=observation.at, actor=actor)
    _fulfil(order=order, actor=actor)
    return Outcome.PAID


def _payment_move(payment: Payment, target: PaymentStatus) -> None:
    ensure_transition(PAYMENT_TRANSITIONS, payment.status, target)
    payment.status = target


def _vouchers_accept(*, order: Order, payment: Payment, actor: Actor) -> None:
    """The order is paid, however we learnt it: its waiting vouchers are settled too."""
    waiting = list(payment.vouchers.filter(status=VoucherStatus.SUBMITTED).values_list("pk", flat=True))
    if not waiting:
        return
    reviewer = int(actor.ident) if actor.kind == "operator" and actor.ident.isdigit() else None
    RemittanceVoucher.objects.filter(pk__in=waiting).update(
        status=VoucherStatus.ACCEPTED, reviewed_at=now(), reviewed_by_id=reviewer
    )
    audit_record(
        action="remittance.vouchers_accepted",
        subject=f"payment:{payment.out_trade_no}",
        actor=actor,
        enterprise_id=order.enterprise_id,
        data={"vouchers": waiting},
    )


def _fulfil(*, order: Order, actor: Actor) -> None:
    """A paid new purchase buys a card (R2.1); a paid renewal waits on its card to be claimed (R4.1)."""
    notify(
        enterprise_id=order.enterprise_id,
        kind="payment_received",
        title=_("订单已支付"),
        body=_("订单 {order}（{product}，¥{amount}）已收到付款。").format(
            order=order.order_no, product=order.product_name, amount=order.amount
        ),
    )
    if order.kind == OrderKind.RENEWAL and order.card_id is not None:
        card_renewal_paid(card_id=order.card_id, order_no=order.order_no, actor=actor)
    elif order.product.needs_application:
        shipment_create(order_no=order.order_no, enterprise_id=order.enterprise_id)
    elif order.kind == OrderKind.NEW:
        card = card_create_for_order(
            enterprise_id=order.enterprise_id,
            product_name=order.product_name,
            order_no=order.order_no,
            purchased_at=order.paid_at or now(),
            actor=actor,
        )
        order_attach_card(order=order, card_id=card.pk)


# --- offline remittance -----------------------------------------------------------------------------------

MAX_VOUCHERS_PER_PAYMENT = 10


def access_offline_payment(*, order: Order) -> Payment:
    payment = Payment.objects.filter(order=order, channel=PaymentChannel.OFFLINE).first()
    if payment is None:
        raise NotFound(_("该订单不是线下汇款订单"))
    return payment


def open_voucher(voucher: RemittanceVoucher) -> FileResponse:
    try:
        handle = voucher.file.open("rb")
    except FileNotFoundError:
        log.error("voucher %s: file %s is missing", voucher.pk, voucher.file.name)
        raise NotFound(_("凭证文件不存在，请联系平台客服")) from None
    return FileResponse(handle, content_type=voucher.content_type)


@transaction.atomic(durable=True)
def payment_open_record(*, payment_id: int, qr_content: str, gateway_expires_at: datetime) -> Payment:
    """Keep what the gateway gave for an online payment (its QR code) so a reload shows the same one."""
    order, payment = lock_payment_with_order(payment_id)
    if payment.qr_content or payment.status != PaymentStatus.PENDING:
        return payment
    payment.qr_content, payment.qr_opened_at, payment.gateway_expires_at = qr_content, now(), gateway_expires_at
    payment.save(update_fields=["qr_content", "qr_opened_at", "gateway_expires_at"])
    audit_record(
        action="payment.opened",
        subject=f"payment:{payment.out_trade_no}",
        actor=Actor("gateway", payment.channel),
        enterprise_id=order.enterprise_id,
        data={"gateway_expires_at": gateway_expires_at.isoformat()},
    )
    return payment


def _refuse_unless_payable(order: Order, payment: Payment) -> None:
    if payment.status == PaymentStatus.CLOSED or order.status == OrderStatus.CLOSED:
        raise Conflict(_("订单已关闭，不能再确认收款；如款项已到账，请导入银行流水登记为待退款"), code="order_closed")
    if payment.status != PaymentStatus.PENDING:
        raise Conflict(_("该订单已不是待支付状态"), code="payment_not_pending")


@transaction.atomic(durable=True)
def remittance_voucher_upload(*, payment_id: int, upload: UploadedFile, actor: Actor) -> RemittanceVoucher:
    """Attach a transfer voucher (PDF/JPEG/PNG, ≤ the configured size) to a pending remittance."""
    content_type = sniff_voucher_type(upload)
    order, payment = lock_payment_with_order(payment_id)
    if payment.status != PaymentStatus.PENDING or now() >= order.expires_at:
        raise Conflict(_("该订单已不是待支付状态，无需再上传凭证"), code="payment_not_pending")
    if payment.vouchers.count() >= MAX_VOUCHERS_PER_PAYMENT:
        raise Conflict(
            _("每个订单最多上传 {count} 份凭证").format(count=MAX_VOUCHERS_PER_PAYMENT), code="too_many_vouchers"
        )
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    voucher = RemittanceVoucher(
        payment=payment,
        original_name=(upload.name or "voucher")[:200],
        content_type=content_type,
        size=upload.size or 0,
        sha256=digest.hexdigest(),
        uploaded_at=now(),
    )
    extension = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}[content_type]
    voucher.file.save(f"{payment.out_trade_no}.{extension}", upload, save=False)
    voucher.save()  # the file is written first: a rollback can leave an orphan file, never a row without one
    audit_record(
        action="remittance.voucher_uploaded",
        subject=f"payment:{payment.out_trade_no}",
        actor=actor,
        enterprise_id=order.enterprise_id,
        data={"sha256": voucher.sha256, "size": voucher.size},
    )
    return voucher


def remittance_confirm(*, payment_id: int, actor: Actor, operator: User) -> Outcome:
    """Finance saw the money arrive: the order is paid. A closed order can no longer be paid this way.

    An order past its deadline is closed here and then refused, so the deadline never depends on when the
    auto-close job last ran.
    """
    if not Payment.objects.filter(pk=payment_id, channel=PaymentChannel.OFFLINE).exists():
        raise NotFound(_("未找到该汇款"))
    refusal: Conflict | None = None
    with transaction.atomic(durable=True):
        order, payment = lock_payment_with_order(payment_id)
        moment = now()
        if payment.status == PaymentStatus.PENDING and moment >= order.expires_at:
            _observe_locked(order=order, payment=payment, observation=_close_observation(payment, moment), actor=actor)
        try:
            _refuse_unless_payable(order, payment)
        except Conflict as exc:
            refusal = exc
        else:
            outcome = _observe_locked(
                order=order,
                payment=payment,
                observation=Observation(
                    kind="paid",
                    event_key=f"confirm:{payment.out_trade_no}",
                    amount=payment.amount,
                    at=moment,
                    payload={"operator": operator.pk},
                ),
                actor=actor,
            )
            if outcome != Outcome.PAID:
                raise Conflict(_("订单状态已变化，请刷新后重试"), code=f"confirm_{outcome.value}")
    if refusal is not None:
        if refusal.code == "payment_not_pending":
            refusal = Conflict(_("该汇款已确认，无需重复操作"), code="already_confirmed")
        raise refusal
    return outcome


@transaction.atomic(durable=True)
def remittance_voucher_reject(*, voucher_id: int, reason: str, actor: Actor, operator: User) -> None:
    reason = reason.strip()
    if not reason:
        raise InvalidInput(_("请填写驳回原因"), code="reason_required")
    payment_id = RemittanceVoucher.objects.filter(pk=voucher_id).values_list("payment_id", flat=True).first()
    if payment_id is None:
        raise NotFound(_("未找到该凭证"))
    order, payment = lock_payment_with_order(payment_id)
    voucher = RemittanceVoucher.objects.select_for_update().get(pk=voucher_id)
    if voucher.status != VoucherStatus.SUBMITTED:
        raise Conflict(_("该凭证已审核"), code="voucher_reviewed")
    if payment.status != PaymentStatus.PENDING:
        raise Conflict(_("该订单已不是待支付状态，不能驳回凭证"), code="payment_not_pending")
    voucher.status, voucher.reject_reason = VoucherStatus.REJECTED, reason[:200]
    voucher.reviewed_at, voucher.reviewed_by = now(), operator
    voucher.save(update_fields=["status", "reject_reason", "reviewed_at", "reviewed_by"])
    audit_record(
        action="remittance.voucher_rejected",
        subject=f"payment:{payment.out_trade_no}",
        actor=actor,
        enterprise_id=order.enterprise_id,
        data={"voucher": voucher.pk, "reason": voucher.reject_reason},
    )


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


def _statement_row(number: int, row: dict[str, str | None]) -> ParsedLine:
    def refuse(what: str) -> InvalidInput:
        return InvalidInput(_("第 {number} 行格式有误：{what}").format(number=number, what=what), code="statement_row")

    txn_id = (row.get("交易流水号") or "").strip()
    if not txn_id or len(txn_id) > 64:
        raise refuse(_("交易流水号为空或超过 64 个字符"))
    try:
        booked = datetime.strptime((row.get("交易时间") or "").strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise refuse(_("交易时间应为 YYYY-MM-DD HH:MM:SS")) from None
    try:
        amount = yuan((row.get("金额") or "").strip().replace(",", ""))
    except ValueError:
        raise refuse(_("金额应为精确到分的数字")) from None
    return ParsedLine(
        bank_txn_id=txn_id,
        booked_at=booked.replace(tzinfo=BEIJING),
        amount=amount,
        payer_name=(row.get("付款人户名") or "").strip()[:200],
        payer_account=(row.get("付款人账号") or "").strip()[:64],
        memo=(row.get("附言") or "").strip()[:200],
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
        counts[statement_line_match(line_id=line_id, actor=actor)] += 1
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
def statement_line_match(*, line_id: int, actor: Actor) -> LineStatus:
    """Match one credit by the memo code in its 附言 and its exact amount; apply it with the payment it pays."""
    memo = StatementLine.objects.filter(pk=line_id).values_list("memo", flat=True).first() or ""
    payment_id = _payment_id_by_memo(memo)
    order, payment = lock_payment_with_order(payment_id) if payment_id else (None, None)  # house lock order
    line = _lock_line(line_id)
    if line.attempted or line.status != LineStatus.UNMATCHED:
        return LineStatus(line.status)
    line.attempted = True
    if order is None or payment is None:
        return _line_set(line, LineStatus.UNMATCHED, "附言中没有有效的汇款识别码", actor=actor)
    if line.amount != payment.amount:
        return _line_set(line, LineStatus.UNMATCHED, f"金额与订单应付金额 {payment.amount} 不符", actor=actor)
    return _line_apply(line=line, order=order, payment=payment, actor=actor, note="", claimed=False)


def _line_apply(
    *, line: StatementLine, order: Order, payment: Payment, actor: Actor, note: str, claimed: bool
) -> LineStatus:
    outcome = _observe_locked(
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
    return _line_set(line, status, note, actor=actor, payment=payment, enterprise_id=order.enterprise_id)


def _line_set(
    line: StatementLine,
    status: LineStatus,
    note: str,
    *,
    actor: Actor,
    payment: Payment | None = None,
    enterprise_id: int | None = None,
) -> LineStatus:
    line.status, line.status_note, line.payment = status, note[:200], payment
    line.save(update_fields=["status", "status_note", "payment", "attempted"])
    audit_record(
        action=f"statement.line_{status.value}",
        subject=f"statement_line:{line.bank_txn_id}",
        actor=actor,
        enterprise_id=enterprise_id,
        data={
            "payment": payment.out_trade_no if payment else None,
            "amount": str(line.amount),
            "note": line.status_note,
        },
    )
    return status


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
    if line.status != LineStatus.UNMATCHED:
        raise Conflict(_("该到账记录已处理"), code="line_not_unmatched")
    if order is None or payment is None:
        raise NotFound(_("未找到该订单号或汇款识别码对应的线下汇款订单"))
    if line.amount != payment.amount:
        raise InvalidInput(
            _("到账金额 {received} 与订单应付金额 {due} 不符，不能认领").format(
                received=line.amount, due=payment.amount
            ),
            code="amount_mismatch",
        )
    line.attempted = True
    return _line_apply(
        line=line, order=order, payment=payment, actor=actor, note=f"人工认领：{reference}", claimed=True
    )


@transaction.atomic(durable=True)
def statement_line_return(*, line_id: int, reason: str, actor: Actor) -> None:
    """Finance returns a credit that pays no order (unmatched, after closing, or a second time) to its payer.

    A credit that arrived after its order closed also moves that payment to refunded.
    """
    reason = reason.strip()
    if not reason:
        raise InvalidInput(_("请填写退回原因"), code="reason_required")
    payment_id = StatementLine.objects.filter(pk=line_id).values_list("payment_id", flat=True).first()
    order, payment = lock_payment_with_order(payment_id) if payment_id else (None, None)  # house lock order
    line = _lock_line(line_id)
    if line.status not in (LineStatus.UNMATCHED, LineStatus.PAID_LATE, LineStatus.DUPLICATE):
        raise Conflict(_("该到账记录不需要退回"), code="line_not_returnable")
    if line.status == LineStatus.PAID_LATE and order is not None and payment is not None:
        _payment_move(payment, PaymentStatus.REFUNDED)
        payment.save(update_fields=["status"])
        audit_record(
            action="payment.refunded",
            subject=f"payment:{payment.out_trade_no}",
            actor=actor,
            enterprise_id=order.enterprise_id,
            data={"line": line.bank_txn_id, "reason": reason[:200], "offline": True},
        )
    line.attempted = True
    _line_set(
        line,
        LineStatus.RETURNED,
        reason,
        actor=actor,
        payment=payment,
        enterprise_id=order.enterprise_id if order else None,
    )


# --- auto-close --------------------------------------------------------------------------------------------


def _close_observation(payment: Payment, moment: datetime) -> Observation:
    return Observation(kind="closed", event_key=f"close:{payment.out_trade_no}", amount=None, at=moment, payload={})


def payments_close_expired(*, actor: Actor) -> int:
    """Close every pending payment whose order is past its payment deadline (R1.6, §7). Returns how many."""
    moment = now()
    due = Payment.objects.filter(
        status=PaymentStatus.PENDING, order__status=OrderStatus.PENDING_PAYMENT, order__expires_at__lte=moment
    ).values_list("pk", flat=True)
    closed = 0
    for payment_id in due:
        # Online channels ask the gateway first (query, then close there); offline money arrives by statement.
        if not _closed_at_gateway(payment_id):
            continue
        with transaction.atomic(durable=True):
            order, payment = lock_payment_with_order(payment_id)
            outcome = _observe_locked(
                order=order, payment=payment, observation=_close_observation(payment, moment), actor=actor
            )
        closed += outcome == Outcome.CLOSED
    if closed:
        log.info("closed %d expired payments", closed)
    return closed


def _closed_at_gateway(payment_id: int) -> bool:
    payment = Payment.objects.get(pk=payment_id)
    if payment.channel == PaymentChannel.OFFLINE:
        return True
    from mobileca.payments.online import gateway_close  # online builds on this module

    return gateway_close(payment=payment)
