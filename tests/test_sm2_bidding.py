"""Bid files of SM2 credentials on the platform (issue 19, R5.1–R5.3 on the national profile): the browser upload
is sealed as it arrives with ``cmslib.gm`` for the card's SM2 encryption certificate, signed on the phone as GB/T
35275 SignedData over the file's SM3 (the bid page shows that SM3), time-stamped, and opened at the opening time
with the claimant's authorisation — SM4-CBC only against the SM3 the verified signature states. BouncyCastle (a
peer nobody here wrote) checks the stored signature and opens the stored envelope with its own SM2 and SM4."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from django.test import Client

from mobileca.bidding.models import Bid
from mobileca.bidding.services import ciphertext_size
from mobileca.bidding.storage import ciphertext_path, plaintext_path
from mobileca.ca import facade as ca
from mobileca.ca import sm2
from mobileca.ca.tsa import tsa_ensure
from mobileca.cards.models import Card
from mobileca.cmslib import gm, shown
from mobileca.shield.models import Credential
from tests.support.bidding import sm2_sealed_bid, tender_open_for_bids
from tests.support.shield import _activated, ca_ready, card, registered  # noqa: F401 (fixtures)
from tests.test_bidding import _approve, _open, _upload

JAVA_SOURCE = Path(__file__).resolve().parent / "java" / "GmCmsCheck.java"
BC_PACKAGES = ("libbcprov-java", "libbcpkix-java", "libbcutil-java")
SM4_CBC, SM4_GCM = "1.2.156.10197.1.104.2", "1.2.156.10197.1.104.8"


def _sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())  # cryptography's SM3 (OpenSSL), not the code under test
    digest.update(data)
    return digest.finalize()


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """BouncyCastle's GmCmsCheck (tests/java) compiled against Debian's jars: the command line to run it."""
    if not (shutil.which("java") and shutil.which("javac") and shutil.which("dpkg")):
        pytest.skip(f"needs java, javac and BouncyCastle ({' '.join(BC_PACKAGES)}); CI installs them")
    listed = subprocess.run(["dpkg", "-L", *BC_PACKAGES], capture_output=True, text=True, check=False)  # noqa: S603, S607
    jars = sorted(
        line
        for line in listed.stdout.splitlines()
        if line.rsplit("/", 1)[-1] in ("bcprov.jar", "bcpkix.jar", "bcutil.jar")
    )
    if len(jars) != 3:
        pytest.skip(f"needs BouncyCastle ({' '.join(BC_PACKAGES)}); CI installs them")
    classpath = ":".join(jars)
    folder = tmp_path_factory.mktemp("gmcms-java")
    subprocess.run(  # noqa: S603
        ["javac", "-Xlint:-options", "-cp", classpath, "-d", str(folder), str(JAVA_SOURCE)],  # noqa: S607
        check=True,
        capture_output=True,
    )
    return ["java", "-cp", f"{classpath}:{folder}", "GmCmsCheck"]


def _run(checker: list[str], *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*checker, *map(str, args)], capture_output=True, text=True, check=False, timeout=120)  # noqa: S603


@pytest.fixture
def sm2_claimant(
    bidder_client: Client, registered: Card, ca_ready: None, settings: Any, tmp_path: Path
) -> tuple[Client, Card]:
    """A card claimed over the phone flow while new credentials are of the SM2 key profile (and the time-stamping
    unit made, as ``manage.py ca_init`` makes it)."""
    tsa_ensure()
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    settings.MOBILECA_KEY_PROFILE = "sm2"
    phone, _ = _activated(bidder_client, registered)
    bidder_client.get(f"/ca/cards/{registered.cert_id}/claim/status/")
    registered.refresh_from_db()
    assert Credential.objects.get(service_no=registered.service_no).key_profile == "sm2"
    return phone, registered


def _encryption_key_der(service_no: str) -> bytes:
    """The credential's SM2 encryption key (PKCS#8) for BouncyCastle, unwrapped as the key back-end holds it."""
    credential = Credential.objects.get(service_no=service_no)
    key = ca.unwrap_private_key(owner_id=f"credential:{service_no}:encrypt", blob=bytes(credential.encrypt_key_wrapped))
    assert isinstance(key, sm2.Sm2PrivateKey)
    return key.der


def _no_plaintext(root: Path) -> bool:
    return not list(root.rglob("opened/*")) and not list(root.rglob(".*part"))


@pytest.mark.parametrize(
    ("cipher", "flavour"), [("sm4-gcm", "rfc5652"), ("sm4-cbc", "gbt35275")], ids=["sm4-gcm", "sm4-cbc-gbt35275"]
)
def test_an_sm2_bid_sealed_in_the_browser_is_signed_on_the_phone_checked_by_bouncycastle_and_opened(
    cipher: str,
    flavour: str,
    bidder_client: Client,
    sm2_claimant: tuple[Client, Card],
    settings: Any,
    tmp_path: Path,
    checker: list[str],
) -> None:
    settings.MOBILECA_GM_CMS_CIPHER, settings.MOBILECA_GM_CMS_FLAVOUR = cipher, flavour
    phone, card = sm2_claimant
    tender = tender_open_for_bids()
    content = b"%PDF-1.7 SM2 sealed bid " * 40_000 + b"tail"

    response = _upload(bidder_client, tender, card, content)
    assert response.status_code == 302, response.content.decode()
    bid = Bid.objects.get()
    assert (bid.crypto_profile, bid.content_sm3, bid.content_sha256) == ("gm", _sm3(content).hex(), "")
    page = bidder_client.get(f"/bidding/bids/{bid.pk}/").content.decode()
    assert "文件摘要（SM3）" in page and shown.digest_groups(_sm3(content)) in page and "SHA-256）" not in page
    stored = ciphertext_path(bid).read_bytes()
    assert content[:4096] not in stored and len(stored) == ciphertext_size(bid)
    header = gm.parse_header(bytes(bid.header))
    assert header.mode == cipher.removeprefix("sm4-")

    assert _approve(phone, bid.authorization_url).status_code == 302
    bidder_client.get(f"/bidding/bids/{bid.pk}/")
    bid.refresh_from_db()
    assert bid.status == "submitted", (bid.failure_code, bid.failure_message)
    assert bytes(bid.timestamp_token)  # the SHA-256 time-stamp over the SM2 signature value

    # the stored files, checked by BouncyCastle: the SignedData over the plaintext, the envelope with its own SM2/SM4
    folder = tmp_path / "peer"
    folder.mkdir()
    (folder / "bid.pdf").write_bytes(content)
    (folder / "bid.p7s").write_bytes(bytes(bid.signature))
    (folder / "bid.p7m").write_bytes(bytes(bid.header))
    (folder / "bid.bin").write_bytes(stored)
    (folder / "key.der").write_bytes(_encryption_key_der(card.service_no))
    verified = _run(checker, "verify", folder / "bid.p7s", folder / "bid.pdf")
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.split() == ["verified", gm.FLAVOURS[flavour].data, gm.SM2_SM3]
    opened_by_peer = _run(checker, "open", folder / "bid.p7m", folder / "bid.bin", folder / "key.der", folder / "out")
    assert opened_by_peer.returncode == 0, opened_by_peer.stderr
    assert opened_by_peer.stdout.split() == ["opened", gm.SM2_3, SM4_CBC if cipher == "sm4-cbc" else SM4_GCM]
    assert (folder / "out").read_bytes() == content

    opened = _open(bidder_client, bid)
    assert (opened.status, opened.signature_valid) == ("opened", True), (opened.failure_code, opened.failure_message)
    assert opened.signer_subject == f"王建国（{card.enterprise.name}）"
    assert opened.timestamp_valid is True
    assert plaintext_path(opened).read_bytes() == content
    page = bidder_client.get(f"/bidding/bids/{bid.pk}/").content.decode()
    assert "签名有效" in page and "王建国" in page


@pytest.mark.parametrize("mode", ["gcm", "cbc"])
def test_a_tampered_sm2_ciphertext_is_refused_at_the_opening_and_no_plaintext_is_kept(
    mode: str, bidder_client: Client, sm2_claimant: tuple[Client, Card], tmp_path: Path
) -> None:
    _, card = sm2_claimant
    bid = sm2_sealed_bid(
        tender=tender_open_for_bids(), service_no=card.service_no, content=b"an SM2 bid " * 3000, mode=mode
    )
    data = bytearray(ciphertext_path(bid).read_bytes())
    data[100] ^= 0x80
    ciphertext_path(bid).write_bytes(bytes(data))

    opened = _open(bidder_client, bid)

    assert (opened.status, opened.failure_code) == ("failed", "tampered")
    assert opened.signature_valid is None and not opened.plaintext_name
    assert "文件已被篡改" in bidder_client.get(f"/bidding/bids/{bid.pk}/").content.decode()
    assert _no_plaintext(tmp_path / "private")


def test_an_sm4_cbc_bid_whose_signature_does_not_verify_is_not_decrypted(
    bidder_client: Client, sm2_claimant: tuple[Client, Card], tmp_path: Path
) -> None:
    """SM4-CBC has no integrity of its own: without a verified signature nothing states the SM3 the plaintext must
    have, so none is kept (a GCM bid would be decrypted and reported with an invalid signature)."""
    from asn1crypto import cms

    _, card = sm2_claimant
    bid = sm2_sealed_bid(tender=tender_open_for_bids(), service_no=card.service_no, content=b"cbc bid", mode="cbc")
    info = cms.ContentInfo.load(bytes(bid.signature))
    signer = info["content"]["signer_infos"][0]
    broken = bytearray(signer["signature"].native)
    broken[-1] ^= 0x01
    signer["signature"] = bytes(broken)
    Bid.objects.filter(pk=bid.pk).update(signature=info.dump(force=True))

    opened = _open(bidder_client, bid)

    assert (opened.status, opened.failure_code) == ("failed", "signature_invalid")
    assert "签名无效" in opened.failure_message and not opened.plaintext_name
    assert _no_plaintext(tmp_path / "private")


def test_an_sm2_bid_sealed_for_the_key_before_renewal_opens_with_the_archived_key(
    bidder_client: Client, sm2_claimant: tuple[Client, Card], finance: Any
) -> None:
    # R4.2, issue 21 on the SM2 profile: the renewal re-keys (SM2 again); the archived SM2 key opens the old bid
    from tests.support.shield import _pay, _renew, _renewal_ticket, _scan_and_login

    _, card = sm2_claimant
    tender = tender_open_for_bids()
    bid = sm2_sealed_bid(tender=tender, service_no=card.service_no, content=b"sealed before renewal")
    _pay(_renew(bidder_client, card), finance)
    ticket = _renewal_ticket(bidder_client, card)
    renewal_phone = Client()
    _scan_and_login(renewal_phone, ticket, "2088102000000001")
    renewal_phone.post(f"/h5/claim/{ticket}/renewal/", {"pin": "135790", "bids_confirmed": "yes"})
    credential = Credential.objects.get()
    assert credential.key_profile == "sm2" and credential.encrypt_serial != bid.recipient_serial

    opened = _open(bidder_client, bid)

    assert opened.status == "opened", (opened.failure_code, opened.failure_message)
    assert opened.opened_with_serial == bid.recipient_serial and opened.failure_message == ""
    # signed before the renewal revoked that certificate as superseded: the signature stays valid (issue 21)
    assert opened.signature_valid is True, opened.failure_message


def test_a_tool_sm4_cbc_bid_must_upload_its_padded_length(sm2_claimant: tuple[Client, Card]) -> None:
    """The tool announces the plaintext's size; an SM4-CBC ciphertext is that padded to whole blocks (1 to 16
    bytes more): exactly that length is accepted, anything else refused and deleted."""
    from mobileca.bidding import services
    from tests.support.bidding import sm2_announced_bid

    _, card = sm2_claimant
    tender = tender_open_for_bids()
    bid, ciphertext = sm2_announced_bid(tender=tender, service_no=card.service_no, content=b"x" * 32, mode="cbc")
    assert len(ciphertext) == ciphertext_size(bid) == 48
    refused = services.bid_ciphertext_received(bid=bid, received=32)
    assert (refused.status, refused.failure_code) == ("refused", "size_mismatch")
    assert not ciphertext_path(bid).exists()

    again, ciphertext = sm2_announced_bid(tender=tender, service_no=card.service_no, content=b"y" * 33, mode="cbc")
    accepted = services.bid_ciphertext_received(bid=again, received=len(ciphertext))
    assert len(ciphertext) == 48 and accepted.status == "submitted"


def test_an_ecdsa_card_still_bids_with_aes_gcm_and_sha256(
    bidder_client: Client, registered: Card, ca_ready: None, settings: Any, tmp_path: Path
) -> None:
    """The writer settings of the SM2 profile change nothing for the other key profiles."""
    from mobileca.cmslib import enveloped

    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    settings.MOBILECA_GM_CMS_CIPHER = "sm4-cbc"
    _activated(bidder_client, registered)
    bidder_client.get(f"/ca/cards/{registered.cert_id}/claim/status/")
    registered.refresh_from_db()
    content = b"ECDSA bid"
    assert _upload(bidder_client, tender_open_for_bids(), registered, content).status_code == 302
    bid = Bid.objects.get()
    assert (bid.crypto_profile, bid.content_sm3) == ("cms", "")
    assert enveloped.parse_header(bytes(bid.header))  # the RFC 5083 AES-256-GCM envelope
    page = bidder_client.get(f"/bidding/bids/{bid.pk}/").content.decode()
    assert "文件摘要（SHA-256）" in page and "SM3" not in page


def _announce(token: str, service_no: str, tender_no: str, header: bytes, signature: bytes, size: int) -> Any:
    import base64
    import json

    return Client().post(
        f"/bidding/api/tenders/{tender_no}/bids",
        json.dumps(
            {
                "credentialID": service_no,
                "fileName": "bid.pdf",
                "size": size,
                "header": base64.b64encode(header).decode(),
                "signature": base64.b64encode(signature).decode(),
            }
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_the_platform_refuses_a_tool_sm2_bid_for_another_recipient_or_signed_outside_the_channel(
    sm2_claimant: tuple[Client, Card],
) -> None:
    """R4.5 on the SM2 profile: an envelope not addressed to the credential's current SM2 encryption certificate,
    or a GB/T 35275 signature by a look-alike SM2 certificate (not issued through this platform), is refused when
    the tool announces it, and nothing is stored."""
    import io

    from mobileca.shield import facade as shield
    from tests.support import gm as outside
    from tests.support.shield import _device_login

    phone, card = sm2_claimant
    tender = tender_open_for_bids()
    token = _device_login(phone)
    certificates = shield.credential_certificates(service_no=card.service_no)
    ours = gm.seal(io.BytesIO(b"bid"), io.BytesIO(), _pem_der(certificates.encrypt_pem))
    root = outside.root("冒名根 CA")
    look_alike = outside.signer(root, "王建国")
    attributes = gm.signed_attributes(content_digest=ours.plaintext_sm3)
    forged = gm.detached_signed_data(
        attributes_der=attributes,
        signature=look_alike.key.sign_digest(gm.attributes_hash(attributes, look_alike.certificate)),
        signer_der=look_alike.certificate,
        chain_der=[root.certificate],
    )
    elsewhere = gm.seal(io.BytesIO(b"bid"), io.BytesIO(), outside.encipherer(root).certificate)

    wrong_signer = _announce(token, card.service_no, tender.project_no, ours.header, forged, ours.size)
    wrong_recipient = _announce(token, card.service_no, tender.project_no, elsewhere.header, forged, ours.size)

    assert wrong_signer.status_code == 400 and wrong_signer.json()["error"] == "wrong_signer"
    assert wrong_recipient.status_code == 400 and wrong_recipient.json()["error"] == "wrong_recipient"
    assert not Bid.objects.exists()


def _pem_der(pem: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
