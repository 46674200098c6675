"""Browser walk through a sealed bid (R5.1–R5.3): an operator creates a tender in the back office; the bidder uploads
the bid file in the browser, where it is encrypted as it arrives; the legal representative signs it with the PIN on
his phone; at the opening time he authorises the decryption on the phone again, and the bid page and the operator's
overview show the file decrypted with a valid signature.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from mobileca.accounts.models import User
from mobileca.bidding.models import Bid, Tender
from mobileca.bidding.storage import ciphertext_path, plaintext_path
from mobileca.core.clock import clock, now
from tests.factories import PASSWORD, UserFactory
from tests.support.browser import (  # noqa: F401 (fixtures)
    ARTIFACTS,
    LEGAL_REP,
    PIN,
    TIMEOUT_MS,
    _allow_orm_beside_playwright_loop,
    browser,
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


PROJECT_NO = "JDZ-2026-077"
PROJECT_NAME = "昌江区中小学校舍维修工程"


def tender_operator() -> User:
    """A back-office member of the tendering agency: staff, allowed to create tenders, no enterprise."""
    user = User.objects.create_user(username="zhaobiao", password=PASSWORD, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_tender"))
    return user


def local_minute(moment: datetime) -> str:
    """What a ``datetime-local`` input takes: the server's local time (Asia/Shanghai), to the minute."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def shown(moment: datetime) -> str:
    """How the pages print a time: ``Y-m-d H:i`` in local time."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def sign_in_on_phone(phone: Page, base_url: str) -> None:
    """「待授权请求」 on the phone; its login has lapsed, so 「支付宝登录」 as 王建国 first, and back."""
    phone.goto(f"{base_url}/h5/authorizations/")
    expect(phone.locator("#sign-in-state")).to_have_text("请使用申领人本人的支付宝账户登录后继续。")
    phone.get_by_role("link", name="支付宝登录").click()
    phone.get_by_role("button", name=f"以{LEGAL_REP[1]}登录").click()
    expect(phone.get_by_role("heading", name="待授权请求")).to_be_visible()


def authorize_on_phone(phone: Page, *, heading: str, file_name: str) -> None:
    """The phone shows what it is asked for and the file; the PIN authorises it."""
    expect(phone.get_by_role("heading", name=heading)).to_be_visible()
    expect(phone.locator("#file-name")).to_have_text(file_name)
    phone.get_by_label("PIN 码").fill(PIN)
    phone.get_by_role("button", name="确认授权").click()
    expect(phone.locator("#authorization-state")).to_have_text("已授权")


def test_a_bid_uploaded_in_the_browser_is_signed_and_opened_with_the_pin_on_the_phone(
    gateways_on_live_server: str, browser: Browser, page: Page, settings: Any, tmp_path: Path
) -> None:
    base = gateways_on_live_server
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    enterprise = registered_enterprise("景德镇昌江建筑安装工程有限公司")
    bidder: User = UserFactory.create(enterprise=enterprise)
    [cert_id] = paid_cards(bidder, 1)
    document = tmp_path / "投标文件.pdf"
    content = b"%PDF-1.7\n" + b"".join(f"{line:08d} 投标报价明细\n".encode() for line in range(200_000))
    document.write_bytes(content)
    assert len(content) > 4 * 1024 * 1024

    try:
        log_in(page, base, bidder)
        h5_url = open_claim(page, base, cert_id)

        # one phone throughout: 王建国 claims the card and later enters the PIN there
        with phone_context(browser) as phone_side:
            phone = phone_side.new_page()
            scan_and_log_in(phone, h5_url, LEGAL_REP[1])
            claim_through_face(phone, organisation_name=enterprise.name)
            verify_enterprise_by_legal_rep_face(phone)
            set_pin_and_finish(phone, "h5-activated-for-bidding.png")
            expect_card_activated(page, cert_id)

            # the tendering agency, on its own desktop: 「运营后台」 → 「招标项目」 → 「新建项目」
            office_side = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
            office_side.set_default_timeout(TIMEOUT_MS)
            office = office_side.new_page()
            try:
                log_in(office, base, tender_operator())
                office.get_by_role("complementary").get_by_role("link", name="招标项目").click()
                expect(office.get_by_role("heading", name="招标项目")).to_be_visible()
                start = now()
                deadline_text = local_minute(start + timedelta(minutes=12))  # time enough to upload and sign
                opening_text = local_minute(start + timedelta(minutes=72))  # past the phone's 30-minute login
                office.get_by_label("项目编号").fill(PROJECT_NO)
                office.get_by_label("项目名称").fill(PROJECT_NAME)
                office.get_by_label("投标截止时间").fill(deadline_text)
                office.get_by_label("开标时间").fill(opening_text)
                office.get_by_role("button", name="创建").click()
                row = office.get_by_role("row").filter(has_text=PROJECT_NO)
                expect(row).to_have_count(1)
                tender = Tender.objects.get(project_no=PROJECT_NO)
                assert local_minute(tender.bid_deadline) == deadline_text
                assert local_minute(tender.opening_at) == opening_text
                expect(row).to_contain_text(PROJECT_NAME)
                expect(row).to_contain_text(shown(tender.bid_deadline))
                expect(row).to_contain_text(shown(tender.opening_at))

                # the bidder: 「工作台」 → 「投标文件」 → the tender → the file, sealed as it uploads
                page.goto(f"{base}/")
                page.get_by_role("complementary").get_by_role("link", name="投标文件", exact=True).click()
                expect(page.get_by_role("heading", name="投标文件")).to_be_visible()
                page.locator(f'tr.tender[data-project-no="{PROJECT_NO}"]').get_by_role(
                    "link", name="递交投标文件"
                ).click()
                expect(page.get_by_role("heading", name=f"{PROJECT_NO} {PROJECT_NAME}")).to_be_visible()
                upload = page.locator("form.upload")
                expect(upload).to_have_count(1)
                upload.get_by_label("投标文件").set_input_files(document)
                upload.get_by_role("button", name="加密上传并签名").click()
                expect(page.get_by_role("heading", name=document.name)).to_be_visible()
                expect(page.locator("#bid-status")).to_have_text("待签名")
                expect(page.locator(".qr svg")).to_be_visible()
                bid = Bid.objects.get()
                sign_url = page.locator("#h5-authorize").get_attribute("href")
                assert sign_url == bid.authorization_url, (sign_url, bid.authorization_url)

                # 王建国 scans the QR code: 「授权签名」 for this file, the PIN
                phone.goto(sign_url)
                authorize_on_phone(phone, heading="授权签名", file_name=document.name)
                # the bid page (refreshing itself every 3 s) follows to 已递交
                expect(page.locator("#bid-status")).to_have_text("已递交")
                expect(page.locator("#bid-result")).to_contain_text("开标前任何人（包括平台）都无法解密")
                expect(page.get_by_role("button", name="授权解密")).to_have_count(0)  # not before the opening

                # the opening time: the phone's login has lapsed meanwhile
                clock.set(tender.opening_at + timedelta(minutes=1))
                sign_in_on_phone(phone, base)
                expect(phone.locator("#no-pending")).to_be_visible()
                page.reload()
                page.get_by_role("button", name="授权解密").click()
                expect(page.locator("#bid-status")).to_have_text("待授权解密")
                expect(page.locator(".qr svg")).to_be_visible()
                expect(page.locator("#bid-hint")).to_have_text(
                    "请申领人使用手机扫码，核对文件和数字信封摘要后输入 PIN 码授权解密。"
                )
                bid.refresh_from_db()
                decrypt_url = page.locator("#h5-authorize").get_attribute("href")
                assert decrypt_url == bid.authorization_url and decrypt_url != sign_url

                # the phone's list (refreshing itself every 5 s) shows the request
                listed = phone.get_by_role("link", name=f"解密 · {document.name}")
                expect(listed).to_be_visible()
                assert decrypt_url.endswith(listed.get_attribute("href") or "-")
                listed.click()
                # the envelope's digest on the phone is the one the bid page shows
                envelope_digest = page.locator("#envelope-digest").inner_text()
                assert len(envelope_digest.split()) == 16
                expect(phone.locator("#envelope-digest")).to_have_text(envelope_digest)
                authorize_on_phone(phone, heading="授权解密", file_name=document.name)
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                phone.screenshot(path=str(ARTIFACTS / "h5-authorize-decrypt.png"), full_page=True)

                # the bid page follows by itself to the result
                expect(page.locator("#bid-status")).to_have_text("已解密")
                expect(page.locator("#bid-result")).to_contain_text("签名有效")
                expect(page.locator("#bid-result")).not_to_contain_text("签名无效")
                page.screenshot(path=str(ARTIFACTS / "bid-opened.png"), full_page=True)

                # the operator's overview of the opening
                office.get_by_role("link", name="投标与开标").click()
                expect(office.get_by_role("heading", name=f"{PROJECT_NO} {PROJECT_NAME}")).to_be_visible()
                opened_row = office.locator("tr.bid").filter(has_text=enterprise.name)
                expect(opened_row).to_have_count(1)
                expect(opened_row).to_contain_text(document.name)
                expect(opened_row).to_contain_text("已解密，签名有效")
            finally:
                office_side.close()

        # the database agrees: opened, the signature valid, the plaintext as uploaded, only ciphertext stored before
        bid.refresh_from_db()
        assert bid.status == "opened" and bid.signature_valid is True, (bid.status, bid.failure_message)
        assert (bid.channel, bid.size, bid.file_name) == ("browser", len(content), document.name)
        assert plaintext_path(bid).read_bytes() == content
        stored = ciphertext_path(bid).read_bytes()
        assert len(stored) == len(content)  # GCM: as long as the plaintext, and nothing of it
        assert stored != content and content[:4096] not in stored and content[-4096:] not in stored
    finally:
        clock.reset()
