"""Offline remittance: voucher upload, finance confirmation and rejection (R1.6, R1.7, R2.1, R6.1, §8)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.cards.models import Card
from mobileca.core.errors import Conflict, InvalidInput
from mobileca.orders.models import Order
from mobileca.payments.models import Payment, PaymentEvent, RemittanceVoucher
from mobileca.payments.services import (
    remittance_confirm,
    remittance_voucher_reject,
    remittance_voucher_upload,
)
from tests.factories import OperatorWithoutFinanceFactory
from tests.support.audit import log_intact
from tests.support.platform import actor_of, login

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _state(order: Order, payment: Payment) -> tuple[object, ...]:
    order.refresh_from_db()
    payment.refresh_from_db()
    return (
        order.status,
        payment.status,
        Card.objects.count(),
        PaymentEvent.objects.count(),
        RemittanceVoucher.objects.count(),
        AuditEvent.objects.count(),
    )


def _upload(client: Client, order: Order, name: str, content: bytes, content_type: str = "application/pdf") -> str:
    response = client.post(
        f"/ca/orders/{order.order_no}/voucher/",
        {"voucher": SimpleUploadedFile(name, content, content_type)},
        follow=True,
    )
    return response.content.decode()


def test_voucher_upload_accepts_pdf_and_png_and_lists_them_as_waiting(bidder_client: Client, offline_order) -> None:
    order, _ = offline_order
    assert "汇款凭证已上传" in _upload(bidder_client, order, "回单.pdf", PDF)
    page = _upload(bidder_client, order, "回单.png", PNG, "image/png")
    assert page.count("待审核") == 2
    assert sorted(RemittanceVoucher.objects.values_list("content_type", flat=True)) == [
        "application/pdf",
        "image/png",
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("evil.pdf", b"MZ\x90\x00 this is an executable", "凭证只支持 PDF、JPEG、PNG 格式"),
        ("note.txt", b"hello", "凭证只支持 PDF、JPEG、PNG 格式"),
        ("empty.pdf", b"", "请选择要上传的"),
    ],
)
def test_voucher_of_wrong_type_is_refused_and_nothing_is_stored(
    bidder_client: Client, offline_order, name: str, content: bytes, message: str
) -> None:
    order, payment = offline_order
    before = _state(order, payment)
    assert message in _upload(bidder_client, order, name, content)
    assert _state(order, payment) == before


def test_voucher_over_the_size_limit_is_refused(bidder_client: Client, offline_order, settings) -> None:
    # §7: vouchers up to 10 MB (the limit is a setting; a small one keeps the test fast)
    settings.MOBILECA_VOUCHER_MAX_BYTES = 1024
    order, payment = offline_order
    before = _state(order, payment)
    assert "凭证文件不能超过" in _upload(bidder_client, order, "big.pdf", PDF + b"0" * 2000)
    assert _state(order, payment) == before


def test_default_voucher_limit_is_ten_megabytes(bidder: User, offline_order) -> None:
    _, payment = offline_order
    too_big = SimpleUploadedFile("big.pdf", PDF + b"0" * (10 * 1024 * 1024), "application/pdf")
    with pytest.raises(InvalidInput, match="不能超过 10 MB"):
        remittance_voucher_upload(payment_id=payment.pk, upload=too_big, actor=actor_of(bidder))
    assert RemittanceVoucher.objects.count() == 0


def test_finance_confirmation_pays_the_order_and_creates_exactly_one_card(
    finance_client: Client, finance: User, offline_order
) -> None:
    # R1.6, R2.1, R2.2
    order, payment = offline_order
    response = finance_client.post(f"/backoffice/remittances/{payment.pk}/confirm/", {"confirm": "yes"}, follow=True)
    assert "已确认收款" in response.content.decode()
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, payment.status) == ("paid", "paid")
    card = Card.objects.get()
    assert re.fullmatch(r"\d{17}", card.cert_id)
    assert (card.enterprise_id, card.status, card.expires_at, card.service_no) == (
        order.enterprise_id,
        "unclaimed",
        None,
        "",
    )
    assert order.card_id == card.pk and card.first_purchased_at == order.paid_at
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert actions[-3:] == ["payment.paid", "order.paid", "card.created"]
    assert log_intact()


def test_second_confirmation_is_refused_and_changes_nothing(finance: User, offline_order) -> None:
    # R1.7: paid exactly once
    order, payment = offline_order
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    before = _state(order, payment)
    with pytest.raises(Conflict) as refused:
        remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    assert refused.value.code == "already_confirmed"
    assert _state(order, payment) == before


def test_confirmation_accepts_the_waiting_voucher(bidder: User, finance: User, offline_order) -> None:
    _, payment = offline_order
    remittance_voucher_upload(payment_id=payment.pk, upload=SimpleUploadedFile("a.pdf", PDF), actor=actor_of(bidder))
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    voucher = RemittanceVoucher.objects.get()
    assert (voucher.status, voucher.reviewed_by) == ("accepted", finance)


def test_upload_after_payment_is_refused(bidder: User, finance: User, offline_order) -> None:
    order, payment = offline_order
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    before = _state(order, payment)
    with pytest.raises(Conflict):
        remittance_voucher_upload(
            payment_id=payment.pk, upload=SimpleUploadedFile("a.pdf", PDF), actor=actor_of(bidder)
        )
    assert _state(order, payment) == before


def test_finance_rejects_a_voucher_with_a_reason_the_buyer_sees(
    bidder_client: Client, finance_client: Client, offline_order
) -> None:
    order, payment = offline_order
    _upload(bidder_client, order, "回单.pdf", PDF)
    voucher = RemittanceVoucher.objects.get()
    finance_client.post(f"/backoffice/vouchers/{voucher.pk}/reject/", {"reason": "凭证不清晰，请重新上传"})
    voucher.refresh_from_db()
    payment.refresh_from_db()
    assert (voucher.status, voucher.reject_reason, payment.status) == (
        "rejected",
        "凭证不清晰，请重新上传",
        "pending",
    )
    page = bidder_client.get(f"/ca/orders/{order.order_no}/pay/").content.decode()
    assert "已驳回" in page and "凭证不清晰，请重新上传" in page


def test_rejection_without_reason_or_twice_is_refused(bidder: User, finance: User, offline_order) -> None:
    order, payment = offline_order
    remittance_voucher_upload(payment_id=payment.pk, upload=SimpleUploadedFile("a.pdf", PDF), actor=actor_of(bidder))
    voucher = RemittanceVoucher.objects.get()
    before = _state(order, payment)
    with pytest.raises(InvalidInput):
        remittance_voucher_reject(voucher_id=voucher.pk, reason="  ", actor=actor_of(finance), operator=finance)
    assert _state(order, payment) == before
    remittance_voucher_reject(voucher_id=voucher.pk, reason="金额不符", actor=actor_of(finance), operator=finance)
    before = _state(order, payment)
    with pytest.raises(Conflict):
        remittance_voucher_reject(voucher_id=voucher.pk, reason="再次", actor=actor_of(finance), operator=finance)
    assert _state(order, payment) == before


def test_bidder_and_non_finance_operator_cannot_confirm(client: Client, bidder: User, offline_order) -> None:
    # R6.1: only finance confirms remittances
    order, payment = offline_order
    support = OperatorWithoutFinanceFactory()
    before = _state(order, payment)
    for user in (bidder, support):
        login(client, user)
        assert client.get("/backoffice/remittances/").status_code == 403
        assert client.post(f"/backoffice/remittances/{payment.pk}/confirm/").status_code == 403
        client.logout()
    assert client.post(f"/backoffice/remittances/{payment.pk}/confirm/").status_code == 302  # to login
    assert _state(order, payment) == before


def test_finance_sees_waiting_remittances_with_memo_and_voucher(
    bidder_client: Client, finance_client: Client, offline_order
) -> None:
    order, payment = offline_order
    _upload(bidder_client, order, "回单.pdf", PDF)
    page = finance_client.get("/backoffice/remittances/").content.decode()
    assert payment.memo_code in page and order.order_no in page and "回单.pdf" in page and "确认收款" in page
    voucher = RemittanceVoucher.objects.get()
    assert finance_client.get(f"/backoffice/vouchers/{voucher.pk}/").getvalue() == PDF


def test_voucher_files_are_not_reachable_by_another_enterprise(
    client: Client, bidder_client: Client, other_bidder: User, offline_order
) -> None:
    order, _ = offline_order
    _upload(bidder_client, order, "回单.pdf", PDF)
    voucher = RemittanceVoucher.objects.get()
    assert bidder_client.get(f"/ca/orders/{order.order_no}/voucher/{voucher.pk}/").getvalue() == PDF
    login(client, other_bidder)
    assert client.get(f"/ca/orders/{order.order_no}/voucher/{voucher.pk}/").status_code == 404
    assert client.get(f"/backoffice/vouchers/{voucher.pk}/").status_code == 403


def test_vouchers_are_stored_under_the_private_root_only(bidder: User, offline_order, settings) -> None:
    # Vouchers are private: stored under MOBILECA_PRIVATE_MEDIA_ROOT, never under a public URL
    _, payment = offline_order
    voucher = remittance_voucher_upload(
        payment_id=payment.pk, upload=SimpleUploadedFile("a.pdf", PDF), actor=actor_of(bidder)
    )
    path = Path(voucher.file.path)
    assert path.is_relative_to(settings.PRIVATE_MEDIA_ROOT) and path.read_bytes() == PDF
    assert voucher.sha256 == hashlib.sha256(PDF).hexdigest()
