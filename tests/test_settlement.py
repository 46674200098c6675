"""Money seen twice, late, or after a person's word: settlement, refunds, deadlines (R1.6, R1.7, §7, §8)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from mobileca.accounts.models import User
from mobileca.cards.models import Card
from mobileca.core.clock import clock, now
from mobileca.core.errors import Conflict
from mobileca.orders.models import Order
from mobileca.payments import statements
from mobileca.payments.models import LineStatus, Payment, PaymentEvent, RemittanceVoucher, StatementLine
from mobileca.payments.services import (
    MAX_VOUCHERS_PER_PAYMENT,
    payments_close_expired,
    remittance_confirm,
    remittance_voucher_reject,
    remittance_voucher_upload,
    statement_import,
    statement_line_return,
)
from tests.support.audit import log_intact
from tests.support.platform import actor_of, login, make_offline_order

PDF = b"%PDF-1.4\n%%EOF\n"


def _csv(*rows: tuple[str, str, str]) -> bytes:
    lines = ["交易流水号,交易时间,金额,付款人户名,付款人账号,附言"]
    lines += [f"{txn},2026-11-28 10:00:00,{amount},测试企业,6222000000000001,{memo}" for txn, amount, memo in rows]
    return "\n".join(lines).encode()


def _import(finance: User, *rows: tuple[str, str, str]) -> statements.ImportResult:
    return statement_import(file_name="s.csv", raw=_csv(*rows), operator=finance, actor=actor_of(finance))


def _snapshot(order: Order, payment: Payment) -> tuple[object, ...]:
    order.refresh_from_db()
    payment.refresh_from_db()
    return (
        order.status,
        payment.status,
        Card.objects.count(),
        PaymentEvent.objects.count(),
        RemittanceVoucher.objects.count(),
    )


def test_statement_credit_after_finance_confirmation_settles_it_and_is_not_refunded(
    finance: User, offline_order
) -> None:
    # R1.7: finance confirmed on the voucher; the same money then shows on the statement: one payment, no refund
    _order, payment = offline_order
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    result = _import(finance, ("TXN-1", "300.00", payment.memo_code))
    assert (result.matched, result.refund) == (1, 0)
    payment.refresh_from_db()
    assert (payment.status, payment.paid_by_event, payment.settled_by_event) == (
        "paid",
        f"confirm:{payment.out_trade_no}",
        "statement:TXN-1",
    )
    assert StatementLine.objects.get().status == LineStatus.MATCHED
    assert Card.objects.count() == 1
    # a second credit for the same order is real extra money: refund list
    result = _import(finance, ("TXN-2", "300.00", payment.memo_code))
    assert result.refund == 1 and StatementLine.objects.get(bank_txn_id="TXN-2").status == LineStatus.DUPLICATE
    assert Card.objects.count() == 1 and log_intact()


def test_interrupted_import_is_finished_by_importing_the_same_statement_again(
    finance: User, offline_order, monkeypatch: pytest.MonkeyPatch
) -> None:
    order, payment = offline_order

    def crash(**kwargs: object) -> None:
        raise RuntimeError("worker killed")

    with monkeypatch.context() as patch:
        patch.setattr(statements, "statement_line_match", crash)
        with pytest.raises(RuntimeError):
            _import(finance, ("TXN-1", "300.00", payment.memo_code))
    line = StatementLine.objects.get()
    assert (line.status, line.attempted) == (LineStatus.UNMATCHED, False)
    assert _import(finance, ("TXN-1", "300.00", payment.memo_code)).matched == 1
    line.refresh_from_db()
    order.refresh_from_db()
    assert (line.status, order.status, Card.objects.count()) == (LineStatus.MATCHED, "paid", 1)


def test_returning_a_late_credit_marks_its_payment_refunded_and_clears_the_refund_list(
    finance: User, finance_client: Client, offline_order
) -> None:
    _order, payment = offline_order
    clock.set(now() + timedelta(days=8))
    payments_close_expired(actor=actor_of(finance))
    _import(finance, ("TXN-LATE", "300.00", payment.memo_code))
    line = StatementLine.objects.get()
    assert "关闭后到账" in finance_client.get("/backoffice/remittances/").content.decode()
    statement_line_return(line_id=line.pk, reason="已原路退回", actor=actor_of(finance), operator=finance)
    payment.refresh_from_db()
    line.refresh_from_db()
    assert (payment.status, line.status) == ("refunded", LineStatus.RETURNED)
    assert "关闭后到账" not in finance_client.get("/backoffice/remittances/").content.decode()
    with pytest.raises(Conflict):
        statement_line_return(line_id=line.pk, reason="再次", actor=actor_of(finance), operator=finance)
    assert log_intact()


def test_matched_line_cannot_be_returned_so_money_that_paid_an_order_is_never_refunded(
    finance: User, offline_order
) -> None:
    order, payment = offline_order
    _import(finance, ("TXN-1", "300.00", payment.memo_code))
    line = StatementLine.objects.get()
    before = _snapshot(order, payment)
    with pytest.raises(Conflict):
        statement_line_return(line_id=line.pk, reason="误操作", actor=actor_of(finance), operator=finance)
    line.refresh_from_db()
    assert line.status == LineStatus.MATCHED and _snapshot(order, payment) == before


def test_confirmation_after_the_deadline_closes_the_order_and_refuses_even_before_the_job_runs(
    finance: User, offline_order
) -> None:
    # §7: the 7-day deadline does not depend on when the periodic job last ran
    order, payment = offline_order
    clock.set(order.expires_at + timedelta(seconds=1))
    with pytest.raises(Conflict) as refused:
        remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    assert refused.value.code == "order_closed"
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, payment.status, Card.objects.count()) == ("closed", "closed", 0)


def test_voucher_upload_after_the_deadline_is_refused(bidder: User, offline_order) -> None:
    order, payment = offline_order
    clock.set(order.expires_at)
    before = _snapshot(order, payment)
    with pytest.raises(Conflict):
        remittance_voucher_upload(
            payment_id=payment.pk, upload=SimpleUploadedFile("a.pdf", PDF), actor=actor_of(bidder)
        )
    assert _snapshot(order, payment) == before


def test_vouchers_are_capped_per_order(bidder: User, offline_order) -> None:
    order, payment = offline_order
    for index in range(MAX_VOUCHERS_PER_PAYMENT):
        remittance_voucher_upload(
            payment_id=payment.pk, upload=SimpleUploadedFile(f"{index}.pdf", PDF), actor=actor_of(bidder)
        )
    before = _snapshot(order, payment)
    with pytest.raises(Conflict) as refused:
        remittance_voucher_upload(
            payment_id=payment.pk, upload=SimpleUploadedFile("x.pdf", PDF), actor=actor_of(bidder)
        )
    assert refused.value.code == "too_many_vouchers" and _snapshot(order, payment) == before


def test_payment_by_statement_accepts_the_waiting_voucher_and_it_can_no_longer_be_rejected(
    bidder: User, finance: User, offline_order
) -> None:
    _order, payment = offline_order
    remittance_voucher_upload(payment_id=payment.pk, upload=SimpleUploadedFile("a.pdf", PDF), actor=actor_of(bidder))
    _import(finance, ("TXN-1", "300.00", payment.memo_code))
    voucher = RemittanceVoucher.objects.get()
    assert voucher.status == "accepted"
    with pytest.raises(Conflict):
        remittance_voucher_reject(voucher_id=voucher.pk, reason="x", actor=actor_of(finance), operator=finance)


def test_missing_voucher_file_is_a_clear_404_not_a_500(bidder_client: Client, bidder: User, offline_order) -> None:
    order, payment = offline_order
    voucher = remittance_voucher_upload(
        payment_id=payment.pk, upload=SimpleUploadedFile("a.pdf", PDF), actor=actor_of(bidder)
    )
    voucher.file.storage.delete(voucher.file.name)
    response = bidder_client.get(f"/ca/orders/{order.order_no}/voucher/{voucher.pk}/")
    assert response.status_code == 404 and "凭证文件不存在" in response.content.decode()


def test_own_order_number_with_another_enterprises_voucher_id_is_404(
    client: Client, bidder: User, other_bidder: User
) -> None:
    # §8: the voucher itself is scoped to the order, not only the order to the enterprise
    _, payment = make_offline_order(bidder)
    theirs = remittance_voucher_upload(
        payment_id=payment.pk, upload=SimpleUploadedFile("a.pdf", PDF), actor=actor_of(bidder)
    )
    own_order, _ = make_offline_order(other_bidder, token="mine")
    login(client, other_bidder)
    response = client.get(f"/ca/orders/{own_order.order_no}/voucher/{theirs.pk}/")
    assert response.status_code == 404


def test_the_status_writers_refuse_edges_their_tables_do_not_have_and_change_nothing(
    finance: User, offline_order
) -> None:
    # issue 13: each status field has one writer that checks its table; a refused edge leaves the row and the
    # audit trail as they were
    from django.db import transaction

    from mobileca.audit.models import AuditEvent
    from mobileca.core.errors import InvalidTransition
    from mobileca.payments.locks import lock_payment_with_order
    from mobileca.payments.models import LineStatus, PaymentStatus, VoucherStatus
    from mobileca.payments.transitions import payment_status_move, statement_line_status_move, vouchers_status_move

    order, payment = offline_order
    remittance_voucher_upload(
        payment_id=payment.pk, upload=SimpleUploadedFile("v.pdf", PDF, "application/pdf"), actor=actor_of(finance)
    )
    _import(finance, ("TXN-1", "300.00", payment.memo_code))  # pays the order, accepts the voucher
    line, voucher = StatementLine.objects.get(), RemittanceVoucher.objects.get()
    before = (_snapshot(order, payment), line.status, voucher.status, AuditEvent.objects.count())
    assert before[1:3] == (LineStatus.MATCHED, VoucherStatus.ACCEPTED)
    actor = actor_of(finance)
    with transaction.atomic():
        locked_order, locked = lock_payment_with_order(payment.pk)
        with pytest.raises(InvalidTransition):
            payment_status_move(
                order=locked_order, payment=locked, target=PaymentStatus.CLOSED, actor=actor, action="x", data={}
            )
        with pytest.raises(InvalidTransition):
            statement_line_status_move(line=line, target=LineStatus.RETURNED, note="x", actor=actor)
        with pytest.raises(InvalidTransition):
            vouchers_status_move(
                order=locked_order,
                payment=locked,
                vouchers=[voucher],
                target=VoucherStatus.REJECTED,
                actor=actor,
                reviewer_id=finance.pk,
            )
    line.refresh_from_db()
    voucher.refresh_from_db()
    assert (_snapshot(order, payment), line.status, voucher.status, AuditEvent.objects.count()) == before
