"""The back office in Chromium at 1280 and 1024 wide (issue 18): every table fits — no cell squeezed to one
character a line, no button or header wrapping (「确认收款」 stays on one line), the page never scrolls sideways (a
table wider than its panel scrolls inside it) — and 「确认收款」 passes through its confirmation page. Measured with
JavaScript in the page; each page is saved to test-artifacts/."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from mobileca.accounts.models import Enterprise, User
from mobileca.bidding.services import tender_create
from mobileca.core.clock import clock, now
from mobileca.notices.services import support_request_create
from mobileca.orders.models import Order
from mobileca.payments.services import payments_close_expired, remittance_voucher_upload, statement_import
from tests.factories import PASSWORD, EnterpriseFactory, UserFactory
from tests.support.browser import (  # noqa: F401 (fixtures)
    ARTIFACTS,
    TIMEOUT_MS,
    _allow_orm_beside_playwright_loop,
    browser,
    log_in,
)
from tests.support.platform import actor_of, make_offline_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_NAME = "景德镇市陶瓷文化旅游发展集团股份有限公司昌江区第二分公司"
PDF = b"%PDF-1.4\n%%EOF\n"

# What a table that does not fit looks like, measured in the page: a cell narrower than two characters whose text
# wraps, a button or a header on more than one line, a table wider than its panel (its actions out of sight), the
# page wider than the window.
MEASURE = """() => {
  const fontSize = parseFloat(getComputedStyle(document.body).fontSize);
  const lines = (element) => {
    const range = document.createRange();
    range.selectNodeContents(element);
    const tops = [...range.getClientRects()].filter(r => r.width > 0).map(r => r.top).sort((a, b) => a - b);
    let count = 0, last = -Infinity;
    for (const top of tops) { if (top - last > fontSize * 0.6) { count += 1; last = top; } }
    return count;
  };
  const label = (element) => element.textContent.trim().replace(/\\s+/g, " ").slice(0, 30);
  const problems = [];
  for (const cell of document.querySelectorAll(".content td, .content th")) {
    if (!cell.textContent.trim() || !cell.getClientRects().length) continue;
    const style = getComputedStyle(cell);
    const inner = cell.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    if (inner < 2 * fontSize && lines(cell) > 1) problems.push(`cell ${Math.round(inner)}px wide: ${label(cell)}`);
  }
  for (const header of document.querySelectorAll(".content th")) {
    if (header.textContent.trim() && lines(header) > 1) problems.push(`header wraps: ${label(header)}`);
  }
  const buttons = ".content table button, .content table .button, .content .confirm-actions button";
  for (const button of document.querySelectorAll(buttons)) {
    if (button.getClientRects().length && lines(button) > 1) problems.push(`button wraps: ${label(button)}`);
  }
  for (const wrap of document.querySelectorAll(".content .table-wrap")) {
    if (wrap.scrollWidth > wrap.clientWidth + 1) {
      problems.push(`table scrolls: ${wrap.scrollWidth} > ${wrap.clientWidth}: ${label(wrap.querySelector("tr"))}`);
    }
  }
  if (document.documentElement.scrollWidth > window.innerWidth) {
    problems.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${window.innerWidth}`);
  }
  return problems;
}"""


def _busy_back_office(admin: User) -> dict[str, Any]:
    """Every back-office list with rows in it, with long names: remittances waiting (one with a voucher), a late
    payment to refund, statement lines to claim and to refund, a tender, a customer-service message."""
    from mobileca.ca.services import ca_init

    ca_init()
    enterprise: Enterprise = EnterpriseFactory.create(name=LONG_NAME)
    bidder: User = UserFactory.create(enterprise=enterprise)
    _, late = make_offline_order(bidder, token="late")
    clock.set(now() + timedelta(days=8))
    payments_close_expired(actor=actor_of(admin))
    waiting = [make_offline_order(bidder, token=f"tok-{number}")[1] for number in range(3)]
    remittance_voucher_upload(
        payment_id=waiting[0].pk,
        upload=SimpleUploadedFile("2026年11月工商银行电子回单（景德镇市陶瓷文化旅游）.pdf", PDF, "application/pdf"),
        actor=actor_of(bidder),
    )
    csv = "交易流水号,交易时间,金额,付款人户名,付款人账号,附言\n"
    csv += f"TXN-LATE-0001,2026-11-28 10:00:00,300.00,{LONG_NAME},6222000000000001,{late.memo_code}\n"
    csv += (
        f"TXN-UNMATCHED-0002,2026-11-28 11:00:00,300.00,{LONG_NAME},6222000000000002,CA费用 第二季度 投标服务 续费款\n"
    )
    statement_import(file_name="工商银行对账单-2026-11.csv", raw=csv.encode(), operator=admin, actor=actor_of(admin))
    tender = tender_create(
        operator=admin,
        project_no="JDZ-2026-118",
        name="景德镇市国有企业2026年度陶瓷原料集中采购项目（第一标段）",
        bid_deadline=now() + timedelta(days=10),
        opening_at=now() + timedelta(days=10, hours=1),
    )
    support_request_create(
        enterprise_id=enterprise.pk,
        user_id=bidder.pk,
        subject="CA 续费后无法登录",
        message="续费成功后仍提示证书过期。",
        phone="13907980001",
    )
    return {"enterprise": enterprise, "tender": tender, "waiting": waiting}


def _pages(world: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("home", "/backoffice/"),
        ("remittances", "/backoffice/remittances/"),
        ("statements", "/backoffice/statements/"),
        ("orders", "/backoffice/orders/"),
        ("refunds", "/backoffice/refunds/"),
        ("support", f"/backoffice/support/?q={world['enterprise'].uscc}"),
        ("support_enterprise", f"/backoffice/support/{world['enterprise'].pk}/"),
        ("support_requests", "/backoffice/support/requests/"),
        ("tenders", "/backoffice/tenders/"),
        ("tender_bids", f"/backoffice/tenders/{world['tender'].url_key}/"),
        ("audit", "/backoffice/audit/"),
        ("applications", "/backoffice/physical/"),
    ]


@pytest.mark.parametrize("width", [1280, 1024])
def test_every_back_office_table_fits_the_window_and_confirm_receipt_stays_on_one_line(
    live_server: LiveServer, browser: Browser, width: int
) -> None:
    admin = User.objects.create_user(username="admin", password=PASSWORD, is_staff=True, is_superuser=True)
    world = _busy_back_office(admin)
    context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        log_in(page, live_server.url, admin)
        problems: dict[str, list[str]] = {}
        for name, path in _pages(world):
            response = page.goto(live_server.url + path)
            assert response is not None and response.status == 200, (name, response and response.status)
            expect(page.locator(".content h1")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / f"backoffice-{width}-{name}.png"), full_page=True)
            found = page.evaluate(MEASURE)
            if found:
                problems[name] = found
        assert problems == {}

        # 「确认收款」 in the list: one line, as tall as a one-line button
        page.goto(live_server.url + "/backoffice/remittances/")
        button = page.get_by_role("row").filter(has_text=str(world["waiting"][0].memo_code))
        confirm = button.get_by_role("button", name="确认收款")
        height, font = confirm.evaluate(
            "b => [b.getBoundingClientRect().height, parseFloat(getComputedStyle(b).fontSize)]"
        )
        assert height < 2.6 * font, (height, font)  # one line with its padding; a second line would add a font size

        # ... and its confirmation page: what will happen, then the money is marked received
        confirm.click()
        expect(page.get_by_role("heading", name="确认收款")).to_be_visible()
        facts = page.locator(".confirm-facts")
        expect(facts).to_contain_text(LONG_NAME)
        expect(facts).to_contain_text("¥300.00")
        expect(facts).to_contain_text(Order.objects.get(payments=world["waiting"][0]).order_no)
        expect(page.get_by_role("note")).to_contain_text("尚未执行")
        assert page.evaluate(MEASURE) == []
        page.screenshot(path=str(ARTIFACTS / f"backoffice-{width}-confirm.png"), full_page=True)
        page.get_by_role("button", name="确认收款").click()
        expect(page.get_by_role("status")).to_have_text("已确认收款，订单已完成")
        world["waiting"][0].refresh_from_db()
        assert world["waiting"][0].status == "paid"
    finally:
        context.close()


def test_the_refund_confirmation_names_the_payer_and_acts_only_on_its_button(
    live_server: LiveServer, browser: Browser
) -> None:
    finance = User.objects.create_user(username="admin", password=PASSWORD, is_staff=True, is_superuser=True)
    _busy_back_office(finance)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1024, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page: Page = context.new_page()
    try:
        log_in(page, live_server.url, finance)
        page.goto(live_server.url + "/backoffice/refunds/")
        row = page.locator("tr.refund-due")
        expect(row).to_have_count(1)
        row.get_by_label("线下退款说明（如银行转账流水号）").fill("工行转账 20261128001")
        row.get_by_role("button", name="登记线下退款").click()
        expect(page.get_by_role("heading", name="确认退款")).to_be_visible()
        expect(page.locator(".confirm-facts")).to_contain_text(LONG_NAME)
        expect(page.locator(".confirm-consequence")).to_contain_text("登记为线下退款（工行转账 20261128001）")
        page.screenshot(path=str(ARTIFACTS / "backoffice-1024-refund-confirm.png"), full_page=True)
        assert page.evaluate(MEASURE) == []
        page.get_by_role("link", name="取消").click()  # back: nothing was refunded
        expect(page.locator("tr.refund-due")).to_have_count(1)
        from mobileca.payments.models import Refund

        assert not Refund.objects.exists()
        page.locator("tr.refund-due").get_by_label("线下退款说明（如银行转账流水号）").fill("工行转账 20261128001")
        page.locator("tr.refund-due").get_by_role("button", name="登记线下退款").click()
        page.get_by_role("button", name="确认退款").click()
        expect(page.get_by_role("status")).to_contain_text("已退款")
        expect(page.locator("tr.refund-due")).to_have_count(0)
        assert Refund.objects.get().note == "工行转账 20261128001"
    finally:
        context.close()
