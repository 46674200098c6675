"""Browser walks through the claim's other ways of verifying the enterprise (R3.6 对公打款认证) and of joining it
(R3.8 管理员审批), from the card's 「立即申领」 on the platform to 「开通成功」 on a phone-sized screen.

* 正向打款: the signing service pays a small amount into the corporate account; the claimant reads it in the bank
  sandbox's online banking and types it in.
* 反向打款: the claimant pays ¥0.01 from the corporate account with a memo, uploads the bank's electronic receipt,
  and the periodic job finds the credit on the statement; the claim page follows by itself.
* 管理员审批: the enterprise already has an admin; an employee asks, the admin agrees in 「成员管理」, the
  employee's page follows by itself to the PIN.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from mobileca.accounts.models import Enterprise, User
from tests.factories import UserFactory
from tests.support.browser import (  # noqa: F401 (fixtures)
    ARTIFACTS,
    LEGAL_REP,
    _allow_orm_beside_playwright_loop,
    browser,
    choose_corporate_transfer,
    claim_through_face,
    expect_card_activated,
    gateways_on_live_server,
    log_in,
    open_claim,
    page,
    paid_cards,
    phone_context,
    registered_enterprise,
    scan_and_log_in,
    set_pin_and_finish,
    verify_enterprise_by_legal_rep_face,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# identity sandbox people besides the legal representative: Alipay user id, name, phone
CLERK = ("2088102000000003", "张小工", "13907980003")
EMPLOYEE = ("2088102000000004", "刘晓梅", "13907980004")


# --- what people do, in their words --------------------------------------------------------------------------


def legal_rep_claims_by_face(browser: Browser, h5_url: str, enterprise: Enterprise) -> None:
    """王建国, the legal representative, claims a card on his phone: he creates the enterprise and verifies it by
    人脸认证, and so becomes its admin."""
    with phone_context(browser) as context:
        phone = context.new_page()
        scan_and_log_in(phone, h5_url, LEGAL_REP[1])
        claim_through_face(phone, organisation_name=enterprise.name)
        verify_enterprise_by_legal_rep_face(phone)
        set_pin_and_finish(phone, "h5-activated-admin.png")


# --- the tests ------------------------------------------------------------------------------------------------


def test_a_clerk_verifies_the_enterprise_by_forward_transfer_and_becomes_its_admin(
    gateways_on_live_server: str, browser: Browser, page: Page
) -> None:
    # R3.6 对公打款认证 → 正向打款: the service pays ¥0.01–0.99 into the corporate account; the clerk types it in
    from mobileca.sandboxes.bank.models import Account
    from mobileca.shield.models import ShieldEnterprise

    base = gateways_on_live_server
    enterprise = registered_enterprise("景德镇瓷都建设工程有限公司")
    corporate = Account.objects.create(
        number="36020100012345678901", bank_name="中国工商银行景德镇分行", holder_name=enterprise.name
    )
    bidder: User = UserFactory.create(enterprise=enterprise)
    [cert_id] = paid_cards(bidder, 1)
    log_in(page, base, bidder)
    h5_url = open_claim(page, base, cert_id)

    with phone_context(browser) as context:
        phone = context.new_page()
        scan_and_log_in(phone, h5_url, CLERK[1])
        claim_through_face(phone, organisation_name=enterprise.name)
        choose_corporate_transfer(phone, "正向打款")

        forward = phone.locator("#forward-transfer")
        forward.get_by_label("开户银行").fill(corporate.bank_name)
        expect(forward.get_by_label("对公账户户名")).to_have_value(enterprise.name)  # prefilled
        forward.get_by_label("对公账号").fill(corporate.number)
        forward.get_by_role("button", name="发起打款").click()
        expect(forward).to_contain_text(f"已向尾号 {corporate.number[-4:]} 的对公账户打款")

        # online banking, in another tab of the phone: the amount that arrived
        bank = context.new_page()
        bank.goto(f"{base}/sandbox/bank/accounts/{corporate.number}/")
        expect(bank.locator("td.amount")).to_have_count(1)
        received = bank.locator("td.amount").inner_text().strip()
        assert re.fullmatch(r"¥0\.\d\d", received), received
        bank.close()

        forward.get_by_label("到账金额（元）").fill(received.removeprefix("¥"))
        forward.get_by_role("button", name="确认").click()
        set_pin_and_finish(phone, "h5-activated-forward-transfer.png")

    expect_card_activated(page, cert_id)
    shield_enterprise = ShieldEnterprise.objects.get(uscc=enterprise.uscc)
    assert shield_enterprise.admin_account == CLERK[0]
    assert shield_enterprise.verification_method == "forward_transfer"
    assert shield_enterprise.verified_at is not None


def test_a_clerk_verifies_the_enterprise_by_reverse_transfer_and_the_page_follows_the_bank(
    gateways_on_live_server: str, browser: Browser, page: Page, tmp_path: Path
) -> None:
    # R3.6 对公打款认证 → 反向打款: ¥0.01 from the corporate account with the memo, the receipt uploaded; the periodic
    # job matches the credit and the claim page moves on to the PIN by itself
    from mobileca.sandboxes.bank.models import Account
    from mobileca.shield.models import ReverseTransfer, ShieldEnterprise, TransferStatus
    from mobileca.shield.transfers import reverse_transfers_reconcile

    base = gateways_on_live_server
    enterprise = registered_enterprise("景德镇高岭土矿业有限公司")
    corporate = Account.objects.create(
        number="36020100098765432109", bank_name="中国建设银行景德镇分行", holder_name=enterprise.name
    )
    bidder: User = UserFactory.create(enterprise=enterprise)
    [cert_id] = paid_cards(bidder, 1)
    log_in(page, base, bidder)
    h5_url = open_claim(page, base, cert_id)

    with phone_context(browser) as context:
        phone = context.new_page()
        scan_and_log_in(phone, h5_url, CLERK[1])
        claim_through_face(phone, organisation_name=enterprise.name)
        choose_corporate_transfer(phone, "反向打款")

        reverse = phone.locator("#reverse-transfer")
        reverse.get_by_label("开户银行").fill(corporate.bank_name)
        expect(reverse.get_by_label("对公账户户名")).to_have_value(enterprise.name)
        reverse.get_by_label("付款对公账号").fill(corporate.number)
        reverse.get_by_role("button", name="获取收款账户").click()
        expect(reverse.locator("#reverse-memo")).to_have_text(re.compile(r"^RZ[A-Z2-9]{8}$"))
        to_account = reverse.locator("#reverse-to-account").inner_text().strip()
        to_name = reverse.locator("#reverse-to-name").inner_text().strip()
        amount = reverse.locator("#reverse-amount").inner_text().strip().removeprefix("¥")
        memo = reverse.locator("#reverse-memo").inner_text().strip()
        assert amount == "0.01", amount

        # online banking, in another tab: 对公转账 from the corporate account, then its electronic receipt
        bank = context.new_page()
        bank.goto(f"{base}/sandbox/bank/accounts/{corporate.number}/")
        bank.get_by_label("收款账号").fill(to_account)
        bank.get_by_label("收款户名").fill(to_name)
        bank.get_by_label("金额（元）").fill(amount)
        bank.get_by_label("附言").fill(memo)
        bank.get_by_role("button", name="确认转账").click()
        expect(bank.get_by_role("heading", name="转账成功")).to_be_visible()
        with bank.expect_download() as download:
            bank.locator("#receipt-pdf").click()
        receipt = tmp_path / download.value.suggested_filename
        download.value.save_as(receipt)
        assert receipt.read_bytes().startswith(b"%PDF-")
        bank.close()

        reverse.get_by_label(re.compile("^转账凭证")).set_input_files(receipt)
        reverse.get_by_role("button", name="上传凭证").click()
        expect(phone.locator("#reverse-state")).to_have_text("凭证已上传，等待银行到账确认…")
        phone.screenshot(path=str(ARTIFACTS / "h5-reverse-transfer-waiting.png"), full_page=True)

        # the periodic job reads the statement; the page (refreshing itself every 5 s) moves on without a reload
        outcomes = reverse_transfers_reconcile()
        assert outcomes.get("matched") == 1, outcomes
        set_pin_and_finish(phone, "h5-activated-reverse-transfer.png")

    expect_card_activated(page, cert_id)
    shield_enterprise = ShieldEnterprise.objects.get(uscc=enterprise.uscc)
    assert shield_enterprise.admin_account == CLERK[0]
    assert shield_enterprise.verification_method == "reverse_transfer"
    transfer = ReverseTransfer.objects.get()
    assert transfer.status == TransferStatus.VERIFIED and transfer.voucher_content_type == "application/pdf"


def test_an_employee_asks_the_admin_who_agrees_in_member_management_and_the_claim_follows(
    gateways_on_live_server: str, browser: Browser, page: Page
) -> None:
    # R3.8: the enterprise is verified and has an admin; an employee's claim waits for the admin's approval
    from mobileca.sandboxes.sms.models import Message
    from mobileca.shield.models import Membership, MembershipStatus

    base = gateways_on_live_server
    enterprise = registered_enterprise("景德镇陶瓷文化旅游发展有限公司")
    bidder: User = UserFactory.create(enterprise=enterprise)
    first_card, second_card = paid_cards(bidder, 2)
    log_in(page, base, bidder)

    # 王建国 claims the first card and so verifies the enterprise and becomes its admin
    legal_rep_claims_by_face(browser, open_claim(page, base, first_card), enterprise)
    expect_card_activated(page, first_card)

    h5_url = open_claim(page, base, second_card)
    with phone_context(browser) as employee_context, phone_context(browser) as admin_context:
        employee = employee_context.new_page()
        scan_and_log_in(employee, h5_url, EMPLOYEE[1])
        claim_through_face(employee, organisation_name=None)  # the service knows the enterprise already
        expect(employee.get_by_role("heading", name="等待管理员审批")).to_be_visible()
        employee.get_by_role("button", name="向管理员发送审批申请").click()
        expect(employee.locator("#approval-state")).to_have_text("已发送审批申请，请等待管理员处理。")
        assert Message.objects.filter(phone=LEGAL_REP[2], text__contains=EMPLOYEE[1]).exists()

        # the admin, on his own phone: 「成员管理」
        admin = admin_context.new_page()
        admin.goto(f"{base}/h5/members/")
        admin.get_by_role("link", name="支付宝登录").click()
        admin.get_by_role("button", name=f"以{LEGAL_REP[1]}登录").click()
        expect(admin.get_by_role("heading", name="成员管理")).to_be_visible()
        section = admin.locator("section.enterprise").filter(has_text=enterprise.name)
        request = section.locator(f'.request[data-name="{EMPLOYEE[1]}"]')
        expect(request).to_contain_text(f"手机尾号 {EMPLOYEE[2][-4:]}")
        request.get_by_role("button", name="同意").click()
        expect(section.locator(".request")).to_have_count(0)
        expect(section.locator(f'.member[data-name="{EMPLOYEE[1]}"]')).to_be_visible()
        assert Message.objects.filter(phone=EMPLOYEE[2], text__contains="添加成功").exists()
        admin.screenshot(path=str(ARTIFACTS / "h5-members-approved.png"))

        # the employee's page (refreshing itself every 5 s while it waits) moves on to the PIN without a reload
        expect(employee.get_by_role("heading", name="设置 PIN 码")).to_be_visible()
        expect(employee.locator("#member-added")).to_contain_text("添加成功")
        set_pin_and_finish(employee, "h5-activated-employee.png")

    expect_card_activated(page, second_card)
    memberships = {row.account: row for row in Membership.objects.filter(enterprise__uscc=enterprise.uscc)}
    assert set(memberships) == {LEGAL_REP[0], EMPLOYEE[0]}
    admin_row, employee_row = memberships[LEGAL_REP[0]], memberships[EMPLOYEE[0]]
    assert (admin_row.role, admin_row.status) == ("admin", MembershipStatus.ACTIVE)
    assert (employee_row.role, employee_row.status) == ("member", MembershipStatus.ACTIVE)
    assert employee_row.decided_by == LEGAL_REP[0]
