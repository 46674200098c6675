"""反向打款 (R3.6, §7): the enterprise pays ¥0.01 from its corporate account into an account the bank opened for this
application, with a memo, and uploads the voucher; verified only when the bank's statement shows that credit."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from mobileca.cards.models import Card
from mobileca.core.clock import now
from mobileca.shield.models import ClaimSession, ReverseTransfer, ShieldEnterprise, TransferCredit
from mobileca.shield.transfers import reverse_transfers_reconcile
from tests.support.shield import (  # noqa: F401 (fixtures)
    _to_enterprise_verification,
    ca_ready,
    card,
    corporate_account,
    registered,
)

EMPLOYEE = "2088102000000003"  # 张小工, not the legal representative
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _start(phone: Client, ticket: str, enterprise_name: str, account_no: str) -> ReverseTransfer:
    form = {"bank_name": "中国工商银行", "account_name": enterprise_name, "account_no": account_no}
    page = phone.post(f"/h5/claim/{ticket}/reverse/start/", form, follow=True).content.decode()
    transfer = ReverseTransfer.objects.get(status="pending")
    assert transfer.to_account in page and transfer.memo in page and "0.01" in page
    return transfer


def _pay(from_number: str, to: ReverseTransfer, *, amount: str = "0.01", memo: str | None = None) -> None:
    """The enterprise's online banking (the bank sandbox's transfer form)."""
    form = {"to_number": to.to_account, "to_name": to.to_account_name, "amount": amount, "memo": memo or to.memo}
    done = Client().post(f"/sandbox/bank/accounts/{from_number}/", form)
    assert done.status_code == 302, done.content.decode()


def _voucher(phone: Client, ticket: str, name: str = "receipt.pdf", content: bytes = PDF) -> object:
    return phone.post(f"/h5/claim/{ticket}/reverse/voucher/", {"voucher": SimpleUploadedFile(name, content)})


@pytest.fixture
def at_verification(
    bidder_client: Client, registered: Card, corporate_account: str, ca_ready: None
) -> tuple[Client, str]:
    return _to_enterprise_verification(bidder_client, registered, user_id=EMPLOYEE)


def test_the_bank_statement_credit_with_the_voucher_verifies_and_the_claimant_becomes_admin(
    at_verification: tuple[Client, str],
    registered: Card,
    corporate_account: str,
) -> None:
    phone, ticket = at_verification
    transfer = _start(phone, ticket, registered.enterprise.name, corporate_account)
    assert transfer.amount == Decimal("0.01") and transfer.memo.startswith("RZ") and len(transfer.memo) == 10
    assert transfer.to_account.startswith("9550880200000001000")  # a sub-account of the collection account
    assert corporate_account not in str(list(ReverseTransfer.objects.values_list()))  # digest and tail only

    _pay(corporate_account, transfer)
    from mobileca.sandboxes.bank.models import Transfer

    paid = Transfer.objects.get(from_number=corporate_account)
    receipt = Client().get(f"/sandbox/bank/accounts/{corporate_account}/transfers/{paid.pk}/receipt.pdf")
    assert receipt.status_code == 200 and receipt.content.startswith(b"%PDF-1.4")
    assert _voucher(phone, ticket, content=receipt.content).status_code == 302  # type: ignore[attr-defined]
    transfer.refresh_from_db()
    assert transfer.status == "pending" and transfer.voucher_content_type == "application/pdf"
    page = phone.get(f"/h5/claim/{ticket}/").content.decode()
    assert "等待银行到账确认" in page and 'http-equiv="refresh"' in page  # the page follows the bank

    assert reverse_transfers_reconcile()["matched"] == 1
    transfer.refresh_from_db()
    assert transfer.status == "verified" and transfer.credit_ref
    enterprise = ShieldEnterprise.objects.get()
    assert (enterprise.verification_method, enterprise.admin_account) == ("reverse_transfer", EMPLOYEE)
    assert "购买成功后需要设置PIN码" in phone.get(f"/h5/claim/{ticket}/").content.decode()
    assert reverse_transfers_reconcile() == {"expired": 0}  # the statement is read once


def test_the_voucher_alone_verifies_nothing_and_a_credit_first_waits_for_the_voucher(
    at_verification: tuple[Client, str],
    registered: Card,
    corporate_account: str,
) -> None:
    phone, ticket = at_verification
    transfer = _start(phone, ticket, registered.enterprise.name, corporate_account)
    _voucher(phone, ticket)
    reverse_transfers_reconcile()
    assert ReverseTransfer.objects.get().status == "pending" and ClaimSession.objects.get().step == "enterprise_verify"

    # another application: the credit arrives before the voucher
    ReverseTransfer.objects.update(voucher="", voucher_uploaded_at=None)
    _pay(corporate_account, transfer)
    reverse_transfers_reconcile()
    transfer.refresh_from_db()
    assert transfer.status == "pending" and transfer.credit_seen_at is not None
    _voucher(phone, ticket, "receipt.png", PNG)
    assert ReverseTransfer.objects.get().status == "verified" and ClaimSession.objects.get().step == "pin"


@pytest.mark.parametrize(
    ("payment", "outcome", "message"),
    [
        ({"memo": "RZWRONGMEM"}, "wrong_memo", "附言不符"),
        ({"amount": "0.02"}, "wrong_amount", "金额不符"),
        ({"payer": "6217000200000000002"}, "wrong_payer", "付款账户不是您填写的对公账户"),
    ],
)
def test_a_credit_with_the_wrong_memo_amount_or_payer_is_recorded_and_verifies_nothing(
    at_verification: tuple[Client, str],
    registered: Card,
    corporate_account: str,
    payment: dict[str, str],
    outcome: str,
    message: str,
) -> None:
    from mobileca.sandboxes.bank.models import Account

    phone, ticket = at_verification
    transfer = _start(phone, ticket, registered.enterprise.name, corporate_account)
    _voucher(phone, ticket)
    payer = payment.get("payer", corporate_account)
    if payer != corporate_account:  # another company's account, however named
        Account.objects.filter(number=payer).update(holder_name=registered.enterprise.name)
    _pay(payer, transfer, amount=payment.get("amount", "0.01"), memo=payment.get("memo"))

    assert reverse_transfers_reconcile()[outcome] == 1
    credit = TransferCredit.objects.get()
    assert (credit.outcome, credit.transfer_id) == (outcome, transfer.pk)
    transfer.refresh_from_db()
    assert transfer.status == "pending" and transfer.credit_seen_at is None and not transfer.credit_ref
    assert ShieldEnterprise.objects.get().verified_at is None and ClaimSession.objects.get().step == "enterprise_verify"
    assert message in phone.get(f"/h5/claim/{ticket}/").content.decode()

    _pay(corporate_account, transfer)  # then the right payment still verifies
    reverse_transfers_reconcile()
    assert ReverseTransfer.objects.get().status == "verified"


@pytest.mark.parametrize(
    ("name", "content", "status", "message"),
    [
        ("evil.pdf", b"MZ\x90\x00 an executable", 400, "凭证只支持 PDF、JPEG、PNG 格式"),
        ("big.pdf", b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024), 400, "凭证文件不能超过 10 MB"),
        ("empty.pdf", b"", 400, "请选择要上传的"),
    ],
)
def test_a_voucher_of_the_wrong_type_or_size_is_refused_and_nothing_is_kept(
    at_verification: tuple[Client, str],
    registered: Card,
    corporate_account: str,
    name: str,
    content: bytes,
    status: int,
    message: str,
) -> None:
    phone, ticket = at_verification
    _start(phone, ticket, registered.enterprise.name, corporate_account)
    before = list(ReverseTransfer.objects.values_list())
    refused = _voucher(phone, ticket, name, content)
    assert refused.status_code == status and message in refused.content.decode()  # type: ignore[attr-defined]
    assert list(ReverseTransfer.objects.values_list()) == before


def test_an_expired_reverse_transfer_fails_and_a_late_credit_verifies_nothing(
    at_verification: tuple[Client, str],
    registered: Card,
    corporate_account: str,
) -> None:
    phone, ticket = at_verification
    transfer = _start(phone, ticket, registered.enterprise.name, corporate_account)
    _voucher(phone, ticket)
    ReverseTransfer.objects.update(expires_at=now() - timedelta(seconds=1))
    _pay(corporate_account, transfer)
    outcomes = reverse_transfers_reconcile()
    assert outcomes["closed"] == 1 and outcomes["expired"] == 1
    assert ReverseTransfer.objects.get().status == "failed" and ShieldEnterprise.objects.get().verified_at is None
    refused = _voucher(phone, ticket)
    assert refused.status_code == 409  # type: ignore[attr-defined]


def test_the_account_name_must_be_the_enterprises_and_only_the_claimant_may_start(
    at_verification: tuple[Client, str],
    registered: Card,
    corporate_account: str,
) -> None:
    phone, ticket = at_verification
    form = {"bank_name": "工行", "account_name": "别的公司", "account_no": corporate_account}
    assert phone.post(f"/h5/claim/{ticket}/reverse/start/", form).status_code == 400
    form["account_name"] = registered.enterprise.name
    assert Client().post(f"/h5/claim/{ticket}/reverse/start/", form).status_code == 403
    assert not ReverseTransfer.objects.exists()


def test_the_bank_statement_api_needs_the_services_credential(db: None) -> None:
    assert Client().get("/sandbox/bank/v1/accounts/9550880200000001000/credits").status_code == 401
    assert Client().post("/sandbox/bank/v1/sub-accounts", "{}", content_type="application/json").status_code == 401


def test_the_job_waits_for_a_bank_that_cannot_be_reached(db: None, monkeypatch, caplog) -> None:
    import httpx

    from mobileca.shield import providers
    from mobileca.shield.models import StatementCursor
    from mobileca.shield.tasks import reconcile_reverse_transfers

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    monkeypatch.setattr(providers, "http_client", lambda: httpx.Client(transport=httpx.MockTransport(unreachable)))
    assert reconcile_reverse_transfers.call_local() == {}
    assert "bank statement not read" in caplog.text
    assert not StatementCursor.objects.exclude(last_id=0).exists()


def test_a_credit_from_a_personal_account_typed_as_the_corporate_one_verifies_nothing(
    at_verification: tuple[Client, str], registered: Card
) -> None:
    # the claimant types the enterprise's name beside their own account number: the bank's holder name gives it away
    from mobileca.sandboxes.bank.models import Account

    Account.objects.create(number="6222888800001111", bank_name="中国银行", holder_name="张小工")
    phone, ticket = at_verification
    transfer = _start(phone, ticket, registered.enterprise.name, "6222888800001111")
    _voucher(phone, ticket)
    _pay("6222888800001111", transfer)
    assert reverse_transfers_reconcile()["wrong_payer"] == 1
    assert ReverseTransfer.objects.get().status == "pending" and ShieldEnterprise.objects.get().verified_at is None
