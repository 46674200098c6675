"""Revocation for key compromise in Chromium (issue 21, R6.1, R4.3): customer service at 1280 wide opens the card's
confirmation page (the card, the two serials, the sealed bids that become unreadable, the reason) and cancels; the
claimant on a 390×844 phone goes 我的证书 → 「吊销证书」, reads what it does and the list of sealed bids, passes a
face check at the liveness sandbox, confirms the list and revokes; the back office then shows the card revoked.
Neither page scrolls sideways. Each step is saved to test-artifacts/."""

from __future__ import annotations

import pytest
from django.test import Client
from playwright.sync_api import Browser, Page, expect

from mobileca.accounts.models import User
from mobileca.ca.models import IssuedCertificate
from mobileca.cards.models import Card
from mobileca.shield.models import Credential, OperationRecord
from tests.support.bidding import sealed_bid, tender_open_for_bids
from tests.support.browser import (  # noqa: F401 (fixtures)
    ARTIFACTS,
    TIMEOUT_MS,
    _allow_orm_beside_playwright_loop,
    browser,
    gateways_on_live_server,
    log_in,
    phone_context,
)
from tests.support.platform import login, operator
from tests.support.shield import activated_credential, ca_ready, card, registered  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIDEWAYS = "() => document.documentElement.scrollWidth - window.innerWidth"


def test_support_sees_the_confirmation_and_the_claimant_revokes_on_the_phone(
    gateways_on_live_server: str, browser: Browser, registered: Card, ca_ready: None, bidder: User
) -> None:
    base = gateways_on_live_server
    credential = activated_credential(registered)
    login(Client(), bidder).get(f"/ca/cards/{registered.cert_id}/claim/status/")  # the platform learns the card
    bid = sealed_bid(tender=tender_open_for_bids(), service_no=credential.service_no, content=b"sealed")
    kefu = operator("kefu", group="客服")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    office = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    office.set_default_timeout(TIMEOUT_MS)
    page: Page = office.new_page()
    try:
        log_in(page, base, kefu)
        page.goto(f"{base}/backoffice/support/{registered.enterprise_id}/")
        page.get_by_role("link", name="吊销证书（密钥泄露）").click()
        expect(page.get_by_role("heading", name="吊销证书（密钥泄露）")).to_be_visible()
        facts = page.locator(".confirm-facts")
        for fact in (credential.service_no, credential.sign_serial, credential.encrypt_serial, "王*国", "1 份"):
            expect(facts).to_contain_text(fact)
        expect(page.get_by_role("note")).to_contain_text("尚未执行")
        expect(page.get_by_label("吊销原因（工单号/说明）")).to_be_visible()
        assert page.evaluate(SIDEWAYS) <= 0
        page.screenshot(path=str(ARTIFACTS / "backoffice-1280-revoke-confirm.png"), full_page=True)
        page.get_by_role("link", name="取消").click()
        expect(page.get_by_role("link", name="吊销证书（密钥泄露）")).to_be_visible()
        assert Credential.objects.get().revoked_reason == ""  # looking changes nothing

        with phone_context(browser) as context:
            phone = context.new_page()
            phone.goto(base + "/h5/login/?next=/h5/credentials/")
            phone.get_by_role("button", name="以王建国登录").click()
            expect(phone.get_by_role("heading", name="我的证书")).to_be_visible()
            phone.get_by_role("link", name="吊销证书").click()
            expect(phone.get_by_role("heading", name="吊销证书")).to_be_visible()
            expect(phone.locator("#revoke-explained")).to_contain_text("永远无法解密")
            expect(phone.locator("#revoke-bids")).to_contain_text(bid.file_name)
            assert phone.evaluate(SIDEWAYS) <= 0
            phone.screenshot(path=str(ARTIFACTS / "h5-revoke-explained.png"), full_page=True)

            phone.get_by_role("button", name="开始人脸识别").click()
            phone.get_by_role("button", name="通过", exact=True).click()
            expect(phone.get_by_text("人脸识别已通过，请在 10 分钟内确认吊销。")).to_be_visible()
            confirm = phone.get_by_label("我已阅读以上清单，知晓吊销后这些文件将无法解密")
            expect(confirm).not_to_be_checked()
            assert phone.evaluate(SIDEWAYS) <= 0
            phone.screenshot(path=str(ARTIFACTS / "h5-revoke-confirm.png"), full_page=True)
            phone.get_by_role("button", name="确认吊销").click()  # the box unticked: the browser asks for it
            assert Credential.objects.get().revoked_reason == ""
            confirm.check()
            phone.get_by_role("button", name="确认吊销").click()
            expect(phone.get_by_role("status")).to_contain_text("证书已吊销（密钥泄露）")
            assert phone.evaluate(SIDEWAYS) <= 0
            phone.screenshot(path=str(ARTIFACTS / "h5-revoke-done.png"), full_page=True)

            phone.goto(base + "/h5/records/")
            expect(phone.locator('tr[data-action="revoke"]')).to_contain_text("证书吊销")

        assert Credential.objects.get().revoked_reason == "key_compromise"
        for serial in (credential.sign_serial, credential.encrypt_serial):
            assert IssuedCertificate.objects.get(serial_hex=serial).revocation_reason == "key_compromise"
        assert OperationRecord.objects.filter(action="revoke").count() == 1

        page.goto(f"{base}/backoffice/support/{registered.enterprise_id}/")
        expect(page.locator(".card-revoked")).to_have_text("已吊销（密钥泄露）")
        expect(page.get_by_role("link", name="吊销证书（密钥泄露）")).to_have_count(0)
        page.screenshot(path=str(ARTIFACTS / "backoffice-1280-revoked.png"), full_page=True)
    finally:
        office.close()
