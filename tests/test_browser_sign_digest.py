"""「核对文件后输入 PIN 码签名」 in two browsers side by side (issue 18): the bid page on a 1280-wide desktop and the
authorisation on a 390×844 phone show the same file digest (the file's SHA-256, in groups of four), size and tender;
the card chooser names the claimant; the phone's buttons are styled and the PIN input sits inside its card; another
person's phone is told whose request it is; the signature's messageDigest is the digest both screens showed.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from playwright.sync_api import Browser, Page, expect

from mobileca.accounts.models import User
from mobileca.bidding.models import Bid
from mobileca.cards.models import Card
from mobileca.shield.models import KeyUseAuthorization
from tests.factories import UserFactory
from tests.support.bidding import tender_open_for_bids
from tests.support.browser import (  # noqa: F401 (fixtures)
    ARTIFACTS,
    LEGAL_REP,
    PIN,
    _allow_orm_beside_playwright_loop,
    browser,
    gateways_on_live_server,
    log_in,
    page,
    paid_cards,
    phone_context,
    registered_enterprise,
)
from tests.support.shield import activated_credential

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONTENT = b"%PDF-1.7\n" + b"".join(f"{line:07d} 路灯采购报价\n".encode() for line in range(52_000))
STRANGER = ("2088102000000003", "张小工")


def sign_in_on_phone(phone: Page, base_url: str, name: str) -> None:
    """「待授权请求」 on the phone: 「支付宝登录」 as ``name`` in the identity sandbox first."""
    phone.goto(f"{base_url}/h5/authorizations/")
    phone.get_by_role("link", name="支付宝登录").click()
    phone.get_by_role("button", name=f"以{name}登录").click()
    expect(phone.get_by_role("heading", name="待授权请求")).to_be_visible()


def inside(inner: dict[str, float] | None, outer: dict[str, float] | None) -> bool:
    assert inner is not None and outer is not None
    return (
        inner["x"] >= outer["x"]
        and inner["y"] >= outer["y"]
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"]
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"]
    )


def side_by_side(browser: Browser, desktop: Path, phone: Path, target: Path) -> None:
    """Both screenshots on one picture, the desktop on the left, the phone on the right."""
    context = browser.new_context(viewport={"width": 1720, "height": 940})
    try:
        sheet = context.new_page()
        images = "".join(
            f'<img alt="{shot.stem}" src="data:image/png;base64,{base64.b64encode(shot.read_bytes()).decode()}">'
            for shot in (desktop, phone)
        )
        sheet.set_content(
            "<style>body{margin:0;display:flex;gap:24px;align-items:flex-start;background:#ccc;padding:12px}"
            "img{border:1px solid #888}</style>" + images
        )
        sheet.screenshot(path=str(target), full_page=True)
    finally:
        context.close()


def test_the_desktop_and_the_phone_show_the_same_digest_of_the_file_that_is_signed(
    gateways_on_live_server: str, browser: Browser, page: Page, settings: Any, tmp_path: Path
) -> None:
    base = gateways_on_live_server
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    enterprise = registered_enterprise("景德镇瓷都路灯工程有限公司")
    bidder: User = UserFactory.create(enterprise=enterprise)
    [cert_id] = paid_cards(bidder, 1)
    activated_credential(Card.objects.get(cert_id=cert_id))  # 王建国 claimed it (through the services)
    tender = tender_open_for_bids(project_no="JDZ-2026-093")
    document = tmp_path / "路灯投标文件.pdf"
    document.write_bytes(CONTENT)
    expected = hashlib.sha256(CONTENT).hexdigest()
    grouped = " ".join(expected[i : i + 4] for i in range(0, 64, 4))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    # the desktop: the platform follows the claim, the chooser names the claimant, the file is sealed as it uploads
    log_in(page, base, bidder)
    page.goto(f"{base}/ca/cards/{cert_id}/claim/status/")
    card = Card.objects.get(cert_id=cert_id)
    assert card.service_no and card.expires_at
    page.goto(f"{base}/bidding/tenders/{tender.project_no}/")
    chooser = page.locator(f"#holder-{cert_id}")
    expect(chooser).to_contain_text("申领人 王建国")
    expect(chooser).to_contain_text(f"服务编号 {card.service_no}")
    expect(chooser).to_contain_text("有效期至 ")
    page.screenshot(path=str(ARTIFACTS / "bid-card-chooser.png"), full_page=True)
    upload = page.locator("form.upload")
    upload.get_by_label("投标文件").set_input_files(document)
    upload.get_by_role("button", name="加密上传并签名").click()
    expect(page.locator("#bid-status")).to_have_text("待签名")
    desktop_digest = page.locator("#file-digest")
    expect(desktop_digest).to_have_text(grouped)
    expect(page.locator("#file-size")).to_have_text("1.3 MB（1,404,009 字节）")
    expect(page.locator("#tender")).to_have_text("JDZ-2026-093 瓷都大道路灯采购")
    bid = Bid.objects.get()

    with phone_context(browser) as own_side, phone_context(browser) as other_side:
        # someone else scans the QR code: told whose request it is, nothing more, and nothing changes
        stranger = other_side.new_page()
        sign_in_on_phone(stranger, base, STRANGER[1])
        stranger.goto(bid.authorization_url)
        expect(stranger.get_by_role("alert")).to_have_text("该授权请求属于证书申领人 王*国，请由其本人在手机上授权")
        expect(stranger.get_by_text(document.name)).to_have_count(0)
        expect(stranger.get_by_role("button", name="确认授权")).to_have_count(0)
        stranger.screenshot(path=str(ARTIFACTS / "h5-authorization-not-yours.png"), full_page=True)
        assert KeyUseAuthorization.objects.get().status == "pending"

        # the claimant: the pending list, then the request with the same digest, size, name and tender
        phone = own_side.new_page()
        sign_in_on_phone(phone, base, LEGAL_REP[1])
        item = phone.get_by_role("link", name=f"签名 · {document.name}")
        expect(item).to_contain_text("JDZ-2026-093 瓷都大道路灯采购")
        expect(item).to_contain_text("1.3 MB")
        phone.screenshot(path=str(ARTIFACTS / "h5-authorizations-pending.png"), full_page=True)
        item.click()
        expect(phone.get_by_role("heading", name="授权签名")).to_be_visible()
        expect(phone.locator("#file-digest")).to_have_text(desktop_digest.inner_text())
        assert phone.locator("#file-digest").inner_text().split() == desktop_digest.inner_text().split()
        for field in ("file-size", "file-name", "tender"):
            expect(phone.locator(f"#{field}")).to_have_text(page.locator(f"#{field}").inner_text())

        # styled buttons, the PIN input inside its card, nothing wider than the phone
        approve = phone.get_by_role("button", name="确认授权")
        refuse = phone.get_by_role("button", name="拒绝")
        assert (refuse.get_attribute("class") or "").split() == ["button", "secondary", "danger"]
        assert refuse.evaluate("e => getComputedStyle(e).borderTopColor") == "rgb(255, 77, 79)"
        assert approve.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(22, 119, 255)"
        approve_box, refuse_box = approve.bounding_box(), refuse.bounding_box()
        assert approve_box and refuse_box and abs(approve_box["width"] - refuse_box["width"]) < 1
        card_box = phone.locator(".box").filter(has=phone.get_by_label("PIN 码")).bounding_box()
        assert inside(phone.get_by_label("PIN 码").bounding_box(), card_box)
        assert inside(approve_box, card_box) and inside(refuse_box, card_box)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        assert phone.locator("#file-digest").evaluate("e => e.scrollWidth <= e.clientWidth")

        page.screenshot(path=str(ARTIFACTS / "bid-sign-digest-desktop.png"))
        phone.screenshot(path=str(ARTIFACTS / "h5-sign-digest-phone.png"), full_page=True)
        side_by_side(
            browser,
            ARTIFACTS / "bid-sign-digest-desktop.png",
            ARTIFACTS / "h5-sign-digest-phone.png",
            ARTIFACTS / "sign-digest-side-by-side.png",
        )

        # the PIN; the bid page follows to 已递交
        phone.get_by_label("PIN 码").fill(PIN)
        approve.click()
        expect(phone.locator("#authorization-state")).to_have_text("已授权")
        expect(page.locator("#bid-status")).to_have_text("已递交")

    # what was signed carries, as its messageDigest, the digest both screens showed
    bid.refresh_from_db()
    signer_info = cms.ContentInfo.load(bytes(bid.signature))["content"]["signer_infos"][0]
    [message_digest] = [
        attribute["values"][0].native
        for attribute in signer_info["signed_attrs"]
        if attribute["type"].native == "message_digest"
    ]
    assert message_digest.hex() == expected
