"""Browser walk through an SM2 card's bid (issue 19): the card is claimed while new credentials are of the SM2 key
profile; the bidder uploads the bid file in the desktop page, where it is sealed as GB/T 35275 as it arrives; the bid
page shows the file's SM3, the phone shows the same digest, and the PIN signs it; at the opening time the phone
authorises the decryption and the page shows the file decrypted with a valid signature."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from playwright.sync_api import Browser, Page, expect

from mobileca.accounts.models import User
from mobileca.bidding.models import Bid
from mobileca.bidding.storage import ciphertext_path, plaintext_path
from mobileca.ca.tsa import tsa_ensure
from mobileca.cmslib import gm, shown
from mobileca.core.clock import clock
from mobileca.shield.models import Credential
from tests.factories import UserFactory
from tests.support.bidding import tender_open_for_bids
from tests.support.browser import (  # noqa: F401 (fixtures)
    LEGAL_REP,
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
from tests.test_browser_bidding import authorize_on_phone, sign_in_on_phone

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())  # cryptography's SM3 (OpenSSL), not the code under test
    digest.update(data)
    return digest.finalize()


def test_an_sm2_bid_is_sealed_in_the_desktop_page_signed_and_opened_with_the_pin_on_the_phone(
    gateways_on_live_server: str, browser: Browser, page: Page, settings: Any, tmp_path: Path
) -> None:
    base = gateways_on_live_server
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    settings.MOBILECA_KEY_PROFILE = "sm2"
    settings.MOBILECA_GM_CMS_CIPHER = "sm4-cbc"  # the variant opened only against the signed SM3
    enterprise = registered_enterprise("景德镇浮梁国密建设有限公司")
    bidder: User = UserFactory.create(enterprise=enterprise)
    [cert_id] = paid_cards(bidder, 1)  # after `ca_init`, as it makes the CA hierarchies
    tsa_ensure()
    document = tmp_path / "投标文件.pdf"
    content = b"%PDF-1.7\n" + b"".join(f"{line:08d} SM2 投标报价\n".encode() for line in range(50_000))
    document.write_bytes(content)
    file_sm3 = shown.digest_groups(_sm3(content))

    try:
        log_in(page, base, bidder)
        h5_url = open_claim(page, base, cert_id)
        with phone_context(browser) as phone_side:
            phone = phone_side.new_page()
            scan_and_log_in(phone, h5_url, LEGAL_REP[1])
            claim_through_face(phone, organisation_name=enterprise.name)
            verify_enterprise_by_legal_rep_face(phone)
            set_pin_and_finish(phone, "h5-activated-sm2.png")
            expect_card_activated(page, cert_id)
            assert Credential.objects.get().key_profile == "sm2"
            tender = tender_open_for_bids(project_no="JDZ-2026-SM2", deadline=timedelta(minutes=12))

            page.goto(f"{base}/bidding/tenders/{tender.project_no}/")
            upload = page.locator("form.upload")
            upload.get_by_label("投标文件").set_input_files(document)
            upload.get_by_role("button", name="加密上传并签名").click()
            expect(page.get_by_role("heading", name=document.name)).to_be_visible()
            expect(page.locator("#bid-status")).to_have_text("待签名")
            expect(page.locator("#bid-file")).to_contain_text("文件摘要（SM3）")
            expect(page.locator("#file-digest")).to_have_text(file_sm3)
            sign_url = page.locator("#h5-authorize").get_attribute("href")
            assert sign_url

            # the phone shows the same SM3 as the desktop page before the PIN
            phone.goto(sign_url)
            expect(phone.locator("#file-digest")).to_have_text(file_sm3)
            authorize_on_phone(phone, heading="授权签名", file_name=document.name)
            expect(page.locator("#bid-status")).to_have_text("已递交")

            clock.set(tender.opening_at + timedelta(minutes=1))
            sign_in_on_phone(phone, base)
            page.reload()
            page.get_by_role("button", name="授权解密").click()
            expect(page.locator("#bid-status")).to_have_text("待授权解密")
            decrypt_url = page.locator("#h5-authorize").get_attribute("href")
            assert decrypt_url
            phone.goto(decrypt_url)
            authorize_on_phone(phone, heading="授权解密", file_name=document.name)
            expect(page.locator("#bid-status")).to_have_text("已解密")
            expect(page.locator("#bid-result")).to_contain_text("签名有效")
            expect(page.locator("#bid-result")).to_contain_text(enterprise.name)

        bid = Bid.objects.get()
        assert (bid.status, bid.crypto_profile, bid.signature_valid) == ("opened", "gm", True)
        assert gm.parse_header(bytes(bid.header)).mode == "cbc"
        assert plaintext_path(bid).read_bytes() == content
        stored = ciphertext_path(bid).read_bytes()
        assert len(stored) == (len(content) // 16 + 1) * 16 and content[:4096] not in stored
    finally:
        clock.reset()
