"""Browser walk through the physical CA (R1.3, 实体 CA / USB Key): 「CA 办理申请」 → review → purchase → dispatch.

The bidder applies with the licence scan; a reviewer (back office, group 「审核」) returns the application with a
reason, the bidder corrects and resubmits it, the reviewer approves; the bidder buys the USB key by offline remittance,
finance confirms the money; the reviewer registers the dispatch, and the bidder sees the courier and tracking number
on the application page and in the message centre. Three people, three browser profiles (own cookies).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Browser, Locator, Page, expect
from pytest_django.live_server_helper import LiveServer

from mobileca.accounts.models import Enterprise, User
from mobileca.notices.models import Notice
from mobileca.orders.models import Order, OrderStatus, PaymentChannel
from mobileca.physical.models import Application, ApplicationStatus, Shipment
from tests.factories import PASSWORD, EnterpriseFactory, FinanceFactory, UserFactory
from tests.support.browser import (  # noqa: F401 (fixtures)
    ARTIFACTS,
    TIMEOUT_MS,
    _allow_orm_beside_playwright_loop,
    browser,
    left_menu,
    log_in,
    open_ca_management,
    page,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


PRODUCT = "实体 CA 数字证书（USB Key）"
LICENCE_LABEL = "营业执照扫描件（PDF、JPEG、PNG，不超过 10 MB）"
FIRST_ADDRESS = "江西省景德镇市珠山区瓷都大道 1 号"
CORRECTED_ADDRESS = "江西省景德镇市昌江区新厂路 8 号"
COURIER = "顺丰速运"
TRACKING_NO = "SF1234567890"


@contextmanager
def desktop(browser: Browser) -> Iterator[Page]:
    """Another person at another desk: a fresh desktop browser profile."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def reviewer_user() -> User:
    """A back-office member who reviews 「CA 办理申请」 and dispatches USB keys: staff, group 「审核」."""
    user = User.objects.create_user(username="reviewer", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="审核"))
    return user


def open_purchase(page: Page) -> Locator:
    """「CA 新购」, returning the physical CA's product panel."""
    left_menu(page, "CA 新购")
    expect(page.get_by_role("heading", name="CA 新购", exact=True)).to_be_visible()
    product = page.locator(".product").filter(has=page.get_by_role("heading", name=PRODUCT))
    expect(product).to_have_count(1)
    return product


def open_review(page: Page) -> None:
    """「运营后台」 → 「CA 办理申请审核」."""
    page.get_by_role("navigation").get_by_role("link", name="运营后台").click()
    page.get_by_role("complementary").get_by_role("link", name="CA 办理申请审核").click()
    expect(page.get_by_role("heading", name="CA 办理申请审核")).to_be_visible()


def pending_application(page: Page, enterprise_name: str) -> Locator:
    application = page.locator(".application").filter(has=page.get_by_role("heading", name=enterprise_name))
    expect(application).to_have_count(1)
    return application


def test_bidder_applies_is_returned_resubmits_is_approved_buys_and_the_usb_key_is_dispatched(
    live_server: LiveServer, page: Page, browser: Browser, settings: Any, tmp_path: Path
) -> None:
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    enterprise: Enterprise = EnterpriseFactory.create()
    bidder: User = UserFactory.create(enterprise=enterprise)
    reviewer = reviewer_user()
    finance: User = FinanceFactory.create()
    base = live_server.url
    licence = tmp_path / "营业执照.pdf"
    licence.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")

    # Step 1: the physical CA needs 「CA 办理申请」 first; the bidder fills it in.
    log_in(page, base, bidder)
    expect(page.get_by_role("heading", name="工作台", exact=True)).to_be_visible()
    open_ca_management(page)
    product = open_purchase(page)
    expect(product).to_contain_text("¥300.00")
    expect(product.get_by_role("link", name="立即购买")).to_have_count(0)
    product.get_by_role("link", name="CA 办理申请").click()
    expect(page.get_by_role("heading", name="CA 办理申请", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="填写申请")).to_be_visible()
    expect(page.get_by_label("企业名称")).to_have_value(enterprise.name)
    expect(page.get_by_label("统一社会信用代码")).to_have_value(enterprise.uscc)
    expect(page.get_by_label("法定代表人")).to_have_value(enterprise.legal_representative)
    page.get_by_label("联系人", exact=True).fill("李经办")
    page.get_by_label("联系电话").fill("13907980009")
    page.get_by_label("收件地址").fill(FIRST_ADDRESS)
    page.get_by_label("Key 数量").fill("2")
    page.get_by_label(LICENCE_LABEL).set_input_files(licence)
    page.get_by_role("button", name="提交申请").click()
    expect(page.locator("#application-status")).to_have_text("待审核")
    expect(page.get_by_role("button", name="提交申请")).to_have_count(0)

    with desktop(browser) as desk:
        # Step 2: the reviewer returns it with a reason; the bidder corrects and resubmits; the reviewer approves.
        log_in(desk, base, reviewer)
        open_review(desk)
        application = pending_application(desk, enterprise.name)
        expect(application).to_contain_text(FIRST_ADDRESS)
        expect(application).to_contain_text("Key 数量: 2")
        expect(application.get_by_role("link", name="查看营业执照")).to_be_visible()
        application.get_by_label("退回原因").fill("营业执照不清晰")
        application.get_by_role("button", name="退回", exact=True).click()
        expect(desk.locator(".application")).to_have_count(0)
        expect(desk.get_by_text("暂无申请")).to_be_visible()

        page.reload()
        expect(page.locator("#application-status")).to_have_text("已退回")
        expect(page.locator("#application-reason")).to_have_text("退回原因：营业执照不清晰")
        expect(page.get_by_role("heading", name="修改后重新提交")).to_be_visible()
        expect(page.get_by_label("收件地址")).to_have_value(FIRST_ADDRESS)
        page.get_by_label("收件地址").fill(CORRECTED_ADDRESS)
        page.get_by_role("button", name="提交申请").click()
        expect(page.locator("#application-status")).to_have_text("待审核")
        expect(page.locator("#application-reason")).to_have_count(0)

        desk.reload()
        application = pending_application(desk, enterprise.name)
        expect(application).to_contain_text(CORRECTED_ADDRESS)
        application.get_by_role("button", name="审核通过").click()
        expect(desk.get_by_text("暂无申请")).to_be_visible()

        # Step 3: the bidder is told, buys the USB key by remittance, and finance confirms the money.
        page.get_by_role("navigation").get_by_role("link", name="工作台", exact=True).click()
        notices = page.locator("#latest-notices")
        expect(notices.get_by_role("heading", name="消息中心")).to_be_visible()
        expect(notices).to_contain_text("CA 办理申请已通过")
        open_ca_management(page)
        product = open_purchase(page)
        expect(product.get_by_role("link", name="CA 办理申请")).to_have_count(0)
        product.get_by_role("link", name="立即购买").click()
        expect(page.get_by_role("heading", name=PRODUCT, level=1)).to_be_visible()
        expect(page.locator(".panel").filter(has=page.get_by_role("heading", name="支付信息"))).to_contain_text(
            "应付金额: ¥300.00"
        )
        page.get_by_role("radio", name="江西").check()
        page.get_by_role("radio", name="线下汇款").check()
        page.get_by_role("button", name="确认并支付").click()
        expect(page.get_by_role("heading", name="线下汇款")).to_be_visible()
        memo = page.locator("#memo-code")
        expect(memo).to_have_text(re.compile(r"^MC[0-9A-Z]{8}$"))
        memo_code = memo.inner_text().strip()

        with desktop(browser) as counter:
            log_in(counter, base, finance)
            counter.get_by_role("navigation").get_by_role("link", name="运营后台").click()
            counter.get_by_role("complementary").get_by_role("link", name="线下汇款确认").click()
            expect(counter.get_by_role("heading", name="线下汇款确认")).to_be_visible()
            row = counter.get_by_role("row").filter(has_text=memo_code)
            expect(row).to_have_count(1)
            expect(row).to_contain_text(enterprise.name)
            expect(row).to_contain_text("¥300.00")
            row.get_by_role("button", name="确认收款").click()
            # the confirmation step states the amount, the payer and the order before money is marked received
            expect(counter.get_by_role("heading", name="确认收款")).to_be_visible()
            expect(counter.locator(".confirm-facts")).to_contain_text(enterprise.name)
            counter.get_by_role("button", name="确认收款").click()
            expect(counter.get_by_role("status")).to_have_text("已确认收款，订单已完成")
            expect(counter.get_by_role("row").filter(has_text=memo_code)).to_have_count(0)

        order = Order.objects.get()
        left_menu(page, "CA 办理申请")
        shipment_row = page.locator("tr.shipment").filter(has_text=order.order_no)
        expect(shipment_row).to_contain_text("待发货")

        # Step 4: the reviewer registers the dispatch.
        open_review(desk)
        expect(desk.get_by_role("heading", name="待发货")).to_be_visible()
        waiting = desk.locator(f"form.shipment[data-order='{order.order_no}']")
        expect(waiting).to_contain_text(CORRECTED_ADDRESS)
        expect(waiting).to_contain_text("Key 数量 2")
        waiting.get_by_label("快递公司").fill(COURIER)
        waiting.get_by_label("快递单号").fill(TRACKING_NO)
        waiting.get_by_role("button", name="登记发货").click()
        expect(desk.locator("form.shipment")).to_have_count(0)
        expect(desk.get_by_text("暂无待发货订单")).to_be_visible()

    # Step 5: the bidder sees the dispatch on the application page and in the message centre.
    page.reload()
    expect(page.locator("#application-status")).to_have_text("审核通过")
    expect(shipment_row).to_contain_text(f"已发货：{COURIER} {TRACKING_NO}")
    expect(shipment_row).to_contain_text(CORRECTED_ADDRESS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "physical-dispatched.png"), full_page=True)

    page.get_by_role("navigation").get_by_role("link", name="工作台", exact=True).click()
    expect(page.locator("#latest-notices")).to_contain_text("实体 CA 已发货")
    page.get_by_role("complementary").get_by_role("link", name=re.compile("^消息中心")).click()
    expect(page.get_by_role("heading", name="消息中心", level=1)).to_be_visible()
    dispatched = page.locator(".notice-item[data-kind='physical_dispatched']")
    expect(dispatched).to_contain_text("实体 CA 已发货")
    expect(dispatched).to_contain_text(TRACKING_NO)

    # The database agrees with what the pages showed.
    application_row = Application.objects.get()
    assert application_row.enterprise_id == enterprise.pk
    assert application_row.status == ApplicationStatus.APPROVED
    assert (application_row.address, application_row.key_count, application_row.reason) == (CORRECTED_ADDRESS, 2, "")
    assert application_row.reviewed_by_id == reviewer.pk
    assert application_row.licence_content_type == "application/pdf"
    shipment = Shipment.objects.get()
    assert (shipment.order_no, shipment.enterprise_id) == (order.order_no, enterprise.pk)
    assert (shipment.courier, shipment.tracking_no, shipment.address) == (COURIER, TRACKING_NO, CORRECTED_ADDRESS)
    assert shipment.dispatched_at is not None
    assert shipment.dispatched_by_id == reviewer.pk
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert order.channel == PaymentChannel.OFFLINE
    assert order.region.code == "jiangxi"
    assert order.product.code == "physical-ca"
    assert order.card_id is None  # a USB key is posted, not claimed as a mobile card
    kinds = set(Notice.objects.filter(enterprise=enterprise).values_list("kind", flat=True))
    assert {"application_returned", "application_approved", "physical_dispatched"} <= kinds
