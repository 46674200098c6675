"""「核对文件后输入 PIN 码签名」 made checkable (issue 18): the bid page and the phone show the same file digest (the
file's SHA-256, grouped hex), the same size and the same tender; the signing service refuses a request whose shown
digest is not the message digest of the signed attributes it would sign (nothing signed, recorded); the card chooser
names each card's claimant; someone else's request says whose it is (masked) and changes nothing."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from mobileca.bidding.models import Bid
from mobileca.cards.models import Card
from mobileca.cmslib import shown, signed
from mobileca.core.errors import InvalidInput
from mobileca.shield import facade
from mobileca.shield.models import Credential, KeyUseAuthorization, OperationRecord
from tests.support.bidding import tender_open_for_bids
from tests.support.shield import (  # noqa: F401 (fixtures)
    LEGAL_REP,
    PIN,
    activated_credential,
    ca_ready,
    card,
    phone_login,
    registered,
)

CONTENT = b"%PDF-1.7 bid for the street lights " * 36_000  # 1,260,000 bytes: 1.2 MB


def _text(page: str, element_id: str) -> str:
    """The text of the element with this id (one line, whitespace as a browser collapses it)."""
    found = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</\1>', page, re.S)
    assert found, f"#{element_id} not on the page"
    return " ".join(re.sub(r"<[^>]+>", "", found.group(2)).split())


@pytest.fixture
def claimed(bidder_client: Client, registered: Card, ca_ready: None, settings: Any, tmp_path: Path) -> Card:
    """王建国 claimed the bidder's card (made through the services); the platform followed it to 开通成功."""
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    activated_credential(registered)
    bidder_client.get(f"/ca/cards/{registered.cert_id}/claim/status/")
    registered.refresh_from_db()
    assert registered.service_no
    return registered


def _upload(bidder_client: Client, project_no: str, card: Card, content: bytes = CONTENT) -> Bid:
    response = bidder_client.post(
        f"/bidding/tenders/{project_no}/upload/?card={card.cert_id}",
        {"bid_file": SimpleUploadedFile("投标文件.pdf", content)},
    )
    assert response.status_code == 302, response.content.decode()
    bid = Bid.objects.latest("pk")
    assert bid.status == "signing"
    return bid


def test_the_bid_page_and_the_phone_show_the_same_digest_which_is_the_files_and_the_signatures(
    bidder_client: Client, claimed: Card
) -> None:
    tender = tender_open_for_bids(project_no="JDZ-2026-088")
    bid = _upload(bidder_client, tender.project_no, claimed)
    expected = hashlib.sha256(CONTENT).hexdigest()
    grouped = " ".join(expected[i : i + 4] for i in range(0, 64, 4))

    desktop = bidder_client.get(f"/bidding/bids/{bid.pk}/").content.decode()
    phone = phone_login(LEGAL_REP, next_page="/h5/authorizations/")
    listing = phone.get("/h5/authorizations/").content.decode()
    assert "JDZ-2026-088 瓷都大道路灯采购" in listing and "1.2 MB" in listing
    mobile = phone.get(bid.authorization_url.removeprefix("http://testserver")).content.decode()

    # the same text on both screens, and it is the file's SHA-256 computed here
    assert _text(desktop, "file-digest") == _text(mobile, "file-digest") == grouped
    assert _text(desktop, "file-size") == _text(mobile, "file-size") == "1.2 MB（1,260,000 字节）"
    assert _text(desktop, "file-name") == _text(mobile, "file-name") == "投标文件.pdf"
    assert _text(desktop, "tender") == _text(mobile, "tender") == "JDZ-2026-088 瓷都大道路灯采购"
    assert "由调用方提交" not in mobile  # a bound file digest, not a caller's hash

    # the claimant compares, enters the PIN; the CMS SignedData's messageDigest is that same SHA-256
    approved = phone.post(bid.authorization_url.removeprefix("http://testserver"), {"pin": PIN, "decision": "approve"})
    assert approved.status_code == 302
    bidder_client.get(f"/bidding/bids/{bid.pk}/")
    bid.refresh_from_db()
    assert bid.status == "submitted", (bid.failure_code, bid.failure_message)
    signer_info = cms.ContentInfo.load(bytes(bid.signature))["content"]["signer_infos"][0]
    message_digest = next(
        attribute["values"][0].native
        for attribute in signer_info["signed_attrs"]
        if attribute["type"].native == "message_digest"
    )
    assert message_digest.hex() == expected == bid.content_sha256


def _attributes(credential: Credential, content: bytes) -> bytes:
    sign_pem = facade.credential_certificates(service_no=credential.service_no).sign_pem
    der = x509.load_pem_x509_certificate(sign_pem.encode()).public_bytes(serialization.Encoding.DER)
    return signed.signed_attributes(content_digest=hashlib.sha256(content).digest(), signer_der=der)


def _b64_hash(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.mark.parametrize("lie", ["shown digest of another file", "hash of other attributes", "no attributes"])
def test_a_request_whose_shown_digest_is_not_what_is_signed_is_refused_and_recorded(
    registered: Card, ca_ready: None, lie: str
) -> None:
    credential = activated_credential(registered)
    attributes = _attributes(credential, CONTENT)
    file_sha256, hashes, carried = hashlib.sha256(CONTENT).digest(), [_b64_hash(attributes)], attributes
    if lie == "shown digest of another file":
        file_sha256 = hashlib.sha256(b"another file").digest()
    elif lie == "hash of other attributes":
        hashes = [_b64_hash(_attributes(credential, b"another file"))]
    else:
        carried = b""
    with pytest.raises(InvalidInput) as refused:
        facade.authorization_request(
            service_no=credential.service_no,
            operation="sign",
            hashes=hashes,
            purpose="投标文件签名：JDZ-2026-088",
            file_name="投标文件.pdf",
            file_size=len(CONTENT),
            file_sha256=file_sha256,
            signed_attributes=carried,
            tender_no="JDZ-2026-088",
            tender_name="瓷都大道路灯采购",
        )
    assert refused.value.code == "digest_mismatch" and "文件摘要与待签名的内容不符" in refused.value.message
    assert not KeyUseAuthorization.objects.exists()  # nothing to approve, so nothing can be signed
    record = OperationRecord.objects.get(action="sign_failed")
    assert record.credential_id == credential.pk and "投标文件.pdf" in record.purpose
    assert record.audit_event.data["failure"] == "digest_mismatch"


def test_the_matching_request_is_stored_with_what_the_phone_shows(registered: Card, ca_ready: None) -> None:
    credential = activated_credential(registered)
    attributes = _attributes(credential, CONTENT)
    facade.authorization_request(
        service_no=credential.service_no,
        operation="sign",
        hashes=[_b64_hash(attributes)],
        purpose="投标文件签名：JDZ-2026-088",
        file_name="投标文件.pdf",
        file_size=len(CONTENT),
        file_sha256=hashlib.sha256(CONTENT).digest(),
        signed_attributes=attributes,
        tender_no="JDZ-2026-088",
        tender_name="瓷都大道路灯采购",
    )
    stored = KeyUseAuthorization.objects.get()
    assert stored.file_sha256 == hashlib.sha256(CONTENT).hexdigest() and stored.file_size == len(CONTENT)
    assert bytes(stored.signed_attributes) == attributes and stored.hashes == [_b64_hash(attributes)]
    assert not OperationRecord.objects.filter(action="sign_failed").exists()


def test_a_stored_request_whose_digest_was_altered_is_refused_at_the_pin_and_nothing_is_signed(
    bidder_client: Client, claimed: Card
) -> None:
    tender = tender_open_for_bids(project_no="JDZ-2026-089")
    bid = _upload(bidder_client, tender.project_no, claimed)
    KeyUseAuthorization.objects.update(file_sha256=hashlib.sha256(b"what the page was made to show").hexdigest())
    phone = phone_login(LEGAL_REP, next_page="/h5/authorizations/")
    url = bid.authorization_url.removeprefix("http://testserver")
    page = phone.get(url).content.decode()
    assert "文件摘要与待签名的内容不符，请勿授权。" in page and 'id="file-digest"' not in page

    answer = phone.post(url, {"pin": PIN, "decision": "approve"})
    assert answer.status_code == 400 and "文件摘要与待签名的内容不符" in answer.content.decode()
    authorization = KeyUseAuthorization.objects.get()
    assert authorization.status == "refused" and authorization.authorized_at is None
    assert Credential.objects.get(service_no=claimed.service_no).pin_failures == 0
    assert OperationRecord.objects.filter(action="sign_failed").count() == 1
    assert not OperationRecord.objects.filter(action="sign").exists()
    bidder_client.get(f"/bidding/bids/{bid.pk}/")
    bid.refresh_from_db()
    assert bid.status == "refused" and not bid.signature


def test_the_card_chooser_names_each_cards_claimant_service_number_and_expiry(
    bidder_client: Client, claimed: Card
) -> None:
    tender = tender_open_for_bids(project_no="JDZ-2026-090")
    page = bidder_client.get(f"/bidding/tenders/{tender.project_no}/").content.decode()
    chooser = _text(page, "holder-" + claimed.cert_id)
    assert claimed.expires_at is not None
    expires = timezone.localtime(claimed.expires_at).strftime("%Y-%m-%d")
    assert chooser == (
        f"移动 CA: 申领人 王建国 · 服务编号 {claimed.service_no} · 有效期至 {expires} （证书ID {claimed.cert_id}）"
    )
    assert facade.credential_holders(service_nos=[claimed.service_no, "ESD-UNKNOWN"]) == {claimed.service_no: "王建国"}


def test_someone_elses_request_says_whose_it_is_and_changes_nothing(bidder_client: Client, claimed: Card) -> None:
    tender = tender_open_for_bids(project_no="JDZ-2026-091")
    bid = _upload(bidder_client, tender.project_no, claimed)
    url = bid.authorization_url.removeprefix("http://testserver")
    other = phone_login("2088102000000003", next_page="/h5/authorizations/")
    page = other.get(url)
    text = page.content.decode()
    assert page.status_code == 403 and "该授权请求属于证书申领人 王*国，请由其本人在手机上授权" in text
    for detail in ("投标文件.pdf", "JDZ-2026-091", "瓷都大道路灯采购", bid.content_sha256[:4], "王建国"):
        assert detail not in text
    for decision in ({"pin": PIN, "decision": "approve"}, {"decision": "refuse"}):
        assert other.post(url, decision).status_code == 403
    assert KeyUseAuthorization.objects.get().status == "pending"
    assert Credential.objects.get(service_no=claimed.service_no).pin_failures == 0
    assert not OperationRecord.objects.filter(action__in=["sign", "sign_failed"]).exists()
    unknown = other.get("/h5/authorizations/Zm9vYmFyYmF6cXV4/")
    assert unknown.status_code == 404 and "未找到该授权请求" in unknown.content.decode()


def test_digests_and_sizes_are_written_alike_for_both_screens() -> None:
    digest = hashlib.sha256(b"abc").digest()
    assert shown.digest_groups(digest) == shown.digest_groups(digest.hex().upper())
    assert shown.digest_groups(digest).split() == [digest.hex()[i : i + 4] for i in range(0, 64, 4)]
    assert [shown.size_units(n) for n in (812, 1536, 1_260_000, 5 * 1024**3)] == ["812 B", "1.5 KB", "1.2 MB", "5.0 GB"]
    assert shown.size_bytes(1_260_000) == "1,260,000"


def test_the_message_digest_is_read_from_the_signed_attributes_or_refused() -> None:
    attributes = signed.signed_attributes(content_digest=b"\x07" * 32, signer_der=b"certificate")
    assert signed.attributes_message_digest(attributes) == b"\x07" * 32
    for broken in (b"", b"\x30\x00", attributes[:-3], b"\x31\x00"):
        with pytest.raises(signed.SignatureInvalid):
            signed.attributes_message_digest(broken)
