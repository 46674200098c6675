"""Browser walk of two-party SM2 (issue 20, R3.7, R5.2): with ``MOBILECA_KEY_CUSTODY=split`` on the sm2 profile the
phone page (phone-sized Chromium) makes its halves of the keys while the PIN is set, keeps them in IndexedDB, and
holds the only copy of them (no database field has the phone's d1); the bid sealed in the desktop page is signed
through the authorisation page (a wrong PIN first: refused, counted, nothing authorised) and opened after the phone
completes the decryption. The bid's signature verifies with BouncyCastle and with GmSSL (gmssl-pyx)."""

from __future__ import annotations

import base64
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from django.core.management import call_command
from django.templatetags.static import static
from playwright.sync_api import Browser, Page, expect

from mobileca.accounts.models import User
from mobileca.bidding.models import Bid
from mobileca.bidding.storage import plaintext_path
from mobileca.ca import sm2
from mobileca.ca.tsa import tsa_ensure
from mobileca.cmslib import gm
from mobileca.core.clock import clock
from mobileca.shield import cosign_keys
from mobileca.shield import facade as shield
from mobileca.shield.models import CosignShare, Credential, KeyUseAuthorization
from tests.factories import UserFactory
from tests.support.bidding import tender_open_for_bids
from tests.support.browser import (  # noqa: F401 (fixtures)
    ARTIFACTS,
    LEGAL_REP,
    PIN,
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
from tests.test_sm2_bidding import _run, checker  # noqa: F401 (the BouncyCastle checker fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WRONG_PIN = "246802"

STORED_IDS = """() => new Promise((resolve, reject) => {
  const opened = indexedDB.open("mobileca-cosign");
  opened.onerror = () => reject(opened.error);
  opened.onsuccess = () => {
    const db = opened.result;
    if (!db.objectStoreNames.contains("shares")) { db.close(); resolve([]); return; }
    const keys = db.transaction("shares").objectStore("shares").getAllKeys();
    keys.onsuccess = () => { db.close(); resolve(keys.result); };
    keys.onerror = () => reject(keys.error);
  };
})"""

OPENED_SHARE = """async ([url, id, pin, pepper]) => {
  const cosign = await import(url);
  const share = await cosign.loadShare(id, pin, pepper);
  return {d1: share.d1, p1: share.p1, publicKey: share.publicKey};
}"""


def _phone_holds_the_only_copy_of_its_halves(phone: Page, credential: Credential) -> None:
    """Issue 20: IndexedDB holds one sealed record per usage, filed under the key's public key; opened with the PIN
    and the service's pepper, the half is the phone's d1 of the share's P1 — and no database row holds that d1."""
    shares = {share.usage: share for share in CosignShare.objects.filter(credential=credential)}
    assert set(shares) == {"sign", "encrypt"} and all(share.certified_at for share in shares.values())
    assert sorted(phone.evaluate(STORED_IDS)) == sorted(share.public_key for share in shares.values())
    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    database = dump.getvalue().lower()
    for share in shares.values():
        opened = phone.evaluate(
            OPENED_SHARE, [static("shield/cosign.js"), share.public_key, PIN, cosign_keys.pepper(share).hex()]
        )
        assert (opened["p1"], opened["publicKey"]) == (share.p1, share.public_key)
        d1 = bytes.fromhex(opened["d1"])
        assert len(d1) == 32
        for form in (d1.hex(), base64.b64encode(d1).decode().lower(), str(int.from_bytes(d1, "big"))):
            assert form not in database, "the phone's d1 is in the database"


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _wrong_pin_is_refused_and_counted(phone: Page, credential: Credential) -> None:
    """R5.2, issue 20: a wrong PIN on a split credential's authorisation page: the service's refusal shown, the PIN
    failure counted, the request still pending and nothing signed."""
    before = credential.pin_failures
    pending = KeyUseAuthorization.objects.filter(credential=credential, status="pending")
    assert pending.count() == 1
    phone.get_by_label("PIN 码").fill(WRONG_PIN)
    phone.get_by_role("button", name="确认授权").click()
    expect(phone.locator("#cosign-progress")).to_contain_text("PIN 码错误")
    _shot(phone, "h5-cosign-wrong-pin.png")
    credential.refresh_from_db()
    assert credential.pin_failures == before + 1
    assert pending.count() == 1 and not KeyUseAuthorization.objects.filter(credential=credential).exclude(
        status="pending"
    )
    expect(phone.locator("#authorization-state")).to_have_count(0)


def _signature_checked_by_peers(
    bid: Bid, content: bytes, credential: Credential, checker: list[str], folder: Path
) -> None:
    """Issue 20: the two-party signature of the bid is an ordinary SM2 signature — BouncyCastle verifies the stored
    SignedData over the plaintext, GmSSL the signed attributes under the share's public key."""
    folder.mkdir()
    (folder / "bid.pdf").write_bytes(content)
    (folder / "bid.p7s").write_bytes(bytes(bid.signature))
    verified = _run(checker, "verify", folder / "bid.p7s", folder / "bid.pdf")
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.split()[0] == "verified" and verified.stdout.split()[-1] == gm.SM2_SM3

    gmssl = pytest.importorskip("gmssl_pyx", reason="gmssl-pyx (the second SM2 implementation) is not installed")
    signer = cms.ContentInfo.load(bytes(bid.signature))["content"]["signer_infos"][0]
    attributes = signer["signed_attrs"].untag().dump(force=True)
    assert attributes[:1] == b"\x31"
    signature = signer["signature"].native
    public = bytes.fromhex(CosignShare.objects.get(credential=credential, usage="sign").public_key)[1:]
    assert gmssl.sm2_verify(public, attributes, signature, signer_id=sm2.DEFAULT_ID)
    assert not gmssl.sm2_verify(public, attributes + b"\x00", signature, signer_id=sm2.DEFAULT_ID)


def _missing_half_is_explained(browser: Browser, base: str, credential: Credential) -> None:
    """Issue 20: another phone (a fresh browser profile, as after clearing the browser) has no half: the page says so
    and points to 我的证书; the request is not authorised."""
    request = shield.authorization_request(
        service_no=credential.service_no,
        operation="sign",
        hashes=[base64.b64encode(bytes(range(32))).decode()],
        purpose="test",
        file_name="other.pdf",
    )
    with phone_context(browser) as other_side:
        other = other_side.new_page()
        sign_in_on_phone(other, base)
        other.goto(request.url)
        expect(other.get_by_role("heading", name="授权签名")).to_be_visible()
        other.get_by_label("PIN 码").fill(PIN)
        other.get_by_role("button", name="确认授权").click()
        expect(other.locator("#cosign-progress")).to_contain_text("本浏览器中没有此证书的密钥")
        expect(other.locator("#cosign-credentials")).to_have_attribute("href", "/h5/credentials/")
        _shot(other, "h5-cosign-missing-half.png")
        assert other.evaluate(STORED_IDS) == []
    ref = request.url.rstrip("/").rsplit("/", 1)[-1]
    assert KeyUseAuthorization.objects.get(public_ref=ref).status == "pending"


def test_the_phone_page_makes_its_halves_signs_a_bid_and_opens_it_with_the_service(
    gateways_on_live_server: str, browser: Browser, page: Page, settings: Any, tmp_path: Path, checker: list[str]
) -> None:
    """R3.7, R5.2, issue 20: the whole walk on a phone-sized page with split custody."""
    base = gateways_on_live_server
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    settings.MOBILECA_KEY_PROFILE = "sm2"
    settings.MOBILECA_KEY_CUSTODY = "split"
    enterprise = registered_enterprise("景德镇浮梁协同签名建设有限公司")
    bidder: User = UserFactory.create(enterprise=enterprise)
    [cert_id] = paid_cards(bidder, 1)
    tsa_ensure()
    document = tmp_path / "投标文件.pdf"
    content = b"%PDF-1.7\n" + b"".join(f"{line:08d} 协同签名 投标报价\n".encode() for line in range(20_000))
    document.write_bytes(content)

    try:
        log_in(page, base, bidder)
        h5_url = open_claim(page, base, cert_id)
        with phone_context(browser) as phone_side:
            phone = phone_side.new_page()
            scan_and_log_in(phone, h5_url, LEGAL_REP[1])
            claim_through_face(phone, organisation_name=enterprise.name)
            verify_enterprise_by_legal_rep_face(phone)
            set_pin_and_finish(phone, "h5-activated-cosign.png")
            expect_card_activated(page, cert_id)
            credential = Credential.objects.get()
            assert (credential.key_profile, credential.key_custody) == ("sm2", "split")
            assert bytes(credential.sign_key_wrapped) == b"" and bytes(credential.encrypt_key_wrapped) == b""
            _phone_holds_the_only_copy_of_its_halves(phone, credential)

            tender = tender_open_for_bids(project_no="JDZ-2026-COSIGN", deadline=timedelta(minutes=12))
            page.goto(f"{base}/bidding/tenders/{tender.project_no}/")
            upload = page.locator("form.upload")
            upload.get_by_label("投标文件").set_input_files(document)
            upload.get_by_role("button", name="加密上传并签名").click()
            expect(page.locator("#bid-status")).to_have_text("待签名")
            sign_url = page.locator("#h5-authorize").get_attribute("href")
            assert sign_url

            phone.goto(sign_url)
            expect(phone.locator("#authorization-form")).to_have_attribute("data-cosign", "approve")
            _wrong_pin_is_refused_and_counted(phone, credential)
            assert Bid.objects.get().status != "submitted"
            authorize_on_phone(phone, heading="授权签名", file_name=document.name)
            expect(page.locator("#bid-status")).to_have_text("已递交")
            credential.refresh_from_db()
            assert credential.pin_failures == 0  # the right PIN clears the count, as for any PIN

            clock.set(tender.opening_at + timedelta(minutes=1))
            sign_in_on_phone(phone, base)
            page.reload()
            page.get_by_role("button", name="授权解密").click()
            expect(page.locator("#bid-status")).to_have_text("待授权解密")
            decrypt_url = page.locator("#h5-authorize").get_attribute("href")
            assert decrypt_url
            phone.goto(decrypt_url)
            _shot(phone, "h5-cosign-decrypt.png")
            authorize_on_phone(phone, heading="授权解密", file_name=document.name)
            expect(page.locator("#bid-status")).to_have_text("已解密")
            expect(page.locator("#bid-result")).to_contain_text("签名有效")

            _missing_half_is_explained(browser, base, credential)

        bid = Bid.objects.get()
        assert (bid.status, bid.crypto_profile, bid.signature_valid) == ("opened", "gm", True)
        assert plaintext_path(bid).read_bytes() == content
        _signature_checked_by_peers(bid, content, credential, checker, tmp_path / "peer")
    finally:
        clock.reset()
