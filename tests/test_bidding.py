"""Bid files (R5.1–R5.3, R4.2, R4.5): the CMS format read by openssl, sealing in the browser and with the tool,
the deadline and the channel check, opening with the claimant's authorisation, and the precise failures."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from mobileca.accounts.models import User
from mobileca.bidding.models import Bid, Tender
from mobileca.bidding.storage import ciphertext_path, plaintext_path
from mobileca.ca.keys import EC_P256, RSA_2048, KeyProfile
from mobileca.cards.models import Card
from mobileca.cmslib import enveloped, signed
from mobileca.core.clock import clock, now
from mobileca.shield.models import Credential
from tests.support.bidding import sealed_bid, tender_open_for_bids
from tests.support.platform import login
from tests.support.platform import operator as staff
from tests.support.shield import _activated, ca_ready, card, registered  # noqa: F401 (fixtures)
from tests.transport import DjangoTestTransport

PIN = "135790"


def _openssl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], capture_output=True, check=False)  # noqa: S603, S607


def _self_signed(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test recipient")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now() - timedelta(days=1))
        .not_valid_after(now() + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def _pem(key: Any, cert: x509.Certificate, folder: Path) -> tuple[Path, Path]:
    key_path, cert_path = folder / "key.pem", folder / "cert.pem"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


# --- the format, against openssl --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ecdh-p256", "rsa-oaep"])
def test_openssl_decrypts_the_detached_envelope_and_a_flipped_byte_is_refused(kind: str, tmp_path: Path) -> None:
    key: Any = ec.generate_private_key(ec.SECP256R1()) if kind == "ecdh-p256" else rsa.generate_private_key(65537, 2048)
    certificate = _self_signed(key)
    key_path, cert_path = _pem(key, certificate, tmp_path)
    plain = bytes(range(256)) * 40_000 + b"tail"
    with (tmp_path / "bid.bin").open("wb") as sink:
        sealed = enveloped.seal(io.BytesIO(plain), sink, certificate)
    (tmp_path / "bid.p7m").write_bytes(sealed.header)
    assert plain not in (tmp_path / "bid.bin").read_bytes()
    result = _openssl("cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(tmp_path / "bid.p7m"),
                      "-content", str(tmp_path / "bid.bin"), "-inkey", str(key_path), "-recip", str(cert_path),
                      "-out", str(tmp_path / "out"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out").read_bytes() == plain

    # our own reader: the same bytes back, and nothing at all when one ciphertext byte is flipped
    from mobileca.shield.envelopes import content_key

    cek = content_key(sealed.header, private_key=key, certificate_pem=cert_path.read_text()).key
    with (tmp_path / "bid.bin").open("rb") as source:
        size, digest = enveloped.open_to_file(sealed.header, cek, source, tmp_path / "opened")
    assert (tmp_path / "opened").read_bytes() == plain and digest == sealed.plaintext_sha256 and size == len(plain)
    tampered = bytearray((tmp_path / "bid.bin").read_bytes())
    tampered[len(tampered) // 2] ^= 0x01
    (tmp_path / "bid.bin").write_bytes(bytes(tampered))
    with (tmp_path / "bid.bin").open("rb") as source, pytest.raises(enveloped.Tampered):
        enveloped.open_to_file(sealed.header, cek, source, tmp_path / "again")
    assert not (tmp_path / "again").exists()
    # the same refusal when another caller left an error in this thread's OpenSSL error queue, from which
    # cryptography words a failed finalize (EVP_R_DATA_NOT_MULTIPLE_OF_BLOCK_LENGTH here: formerly a 500)
    from cryptography.hazmat.bindings.openssl.binding import Binding

    Binding.lib.ERR_put_error(6, 0, 138, b"elsewhere", 1)
    try:
        with (tmp_path / "bid.bin").open("rb") as source, pytest.raises(enveloped.Tampered, match="GCM tag"):
            enveloped.open_to_file(sealed.header, cek, source, tmp_path / "again")
    finally:
        Binding.lib.ERR_clear_error()
    assert not (tmp_path / "again").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial plaintext left
    bad = _openssl("cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(tmp_path / "bid.p7m"),
                   "-content", str(tmp_path / "bid.bin"), "-inkey", str(key_path), "-recip", str(cert_path),
                   "-out", str(tmp_path / "out2"))  # fmt: skip
    assert (bad.returncode, bad.stderr.decode().strip()) == (4, "Error decrypting CMS structure")  # the tag fails


def _sign_as_the_signing_service(key: Any, data: bytes) -> bytes:
    """What the remote signer does over the hash of the signed attributes, with the key's profile's scheme."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize("profile", [EC_P256, RSA_2048], ids=lambda profile: profile.name)
def test_openssl_verifies_the_detached_signature_over_the_plaintext(profile: KeyProfile, tmp_path: Path) -> None:
    # the SignedData names the algorithm of the signer certificate's key profile; EC and RSA both verify
    key = profile.generate()
    certificate = _self_signed(key)
    _, cert_path = _pem(key, certificate, tmp_path)
    content = b"bid content " * 10_000
    (tmp_path / "bid").write_bytes(content)
    digest = signed.sha256_of(io.BytesIO(content))
    der = certificate.public_bytes(serialization.Encoding.DER)
    attributes = signed.signed_attributes(content_digest=digest, signer_der=der)
    p7s = signed.detached_signed_data(
        attributes_der=attributes, signature=_sign_as_the_signing_service(key, attributes), signer_der=der, chain_der=[]
    )
    (tmp_path / "bid.p7s").write_bytes(p7s)
    from asn1crypto import cms

    signer_info = cms.ContentInfo.load(p7s)["content"]["signer_infos"][0]
    assert signer_info["signature_algorithm"]["algorithm"].dotted == profile.signature_oid
    ok = _openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "bid.p7s"),
                  "-content", str(tmp_path / "bid"), "-CAfile", str(cert_path), "-out", "/dev/null")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert signed.verify_detached(p7s, digest) == der
    with pytest.raises(signed.SignatureInvalid, match="message digest"):
        signed.verify_detached(p7s, signed.sha256_of(io.BytesIO(content + b"x")))


def test_a_signature_labelled_with_another_profiles_algorithm_is_refused() -> None:
    # an ECDSA signature relabelled sha256WithRSA (or the reverse) is not verified under the label's rules
    key = ec.generate_private_key(ec.SECP256R1())
    der = _self_signed(key).public_bytes(serialization.Encoding.DER)
    digest = signed.sha256_of(io.BytesIO(b"bid"))
    attributes = signed.signed_attributes(content_digest=digest, signer_der=der)
    p7s = signed.detached_signed_data(
        attributes_der=attributes, signature=_sign_as_the_signing_service(key, attributes), signer_der=der, chain_der=[]
    )
    from asn1crypto import algos, cms

    info = cms.ContentInfo.load(p7s)
    info["content"]["signer_infos"][0]["signature_algorithm"] = algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa"})
    with pytest.raises(signed.SignatureInvalid, match="is not the signer's key profile ec-p256"):
        signed.verify_detached(info.dump(force=True), digest)


def test_a_signer_key_of_no_profile_is_refused_when_signing_and_verifying() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    der = _self_signed(key).public_bytes(serialization.Encoding.DER)
    attributes = signed.signed_attributes(content_digest=b"\0" * 32, signer_der=der)
    with pytest.raises(signed.SignatureInvalid, match="no supported profile"):
        signed.detached_signed_data(attributes_der=attributes, signature=b"sig", signer_der=der, chain_der=[])


def test_a_recipient_key_of_no_profile_is_refused_before_anything_is_written() -> None:
    sink = io.BytesIO()
    with pytest.raises(enveloped.EnvelopeError, match="no supported profile"):
        enveloped.seal(io.BytesIO(b"bid"), sink, _self_signed(ec.generate_private_key(ec.SECP384R1())))
    assert sink.getvalue() == b""


def test_the_cms_library_and_the_tool_load_without_django() -> None:
    # the tool runs on the bidder's machine: cmslib (and the key profiles it reads) must not need the server
    import sys

    code = (
        "import sys, mobileca.cmslib.signed, mobileca.cmslib.enveloped, mobileca.cli.main; "
        "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)  # noqa: S603
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("profile", [EC_P256, RSA_2048], ids=lambda profile: profile.name)
def test_a_bid_signed_under_either_key_profile_passes_the_openings_signature_check(
    profile: KeyProfile, ca_ready: None, tmp_path: Path
) -> None:
    # R4.5 at the opening, for an EC and an RSA credential issued by this CA: verified here and by openssl
    from mobileca.bidding.services import bid_signature_check
    from mobileca.ca import facade
    from mobileca.ca.profiles import Subject

    key = profile.generate()
    issued = facade.credential_issue(
        owner_id=f"credential:{profile.name}:sign",
        subject=Subject(
            enterprise_name="景德镇瓷都建设工程有限公司", uscc="91360200MA35A1B20J", claimant_name="王建国"
        ),
        sign_public_key=key.public_key(),
        encrypt_public_key=profile.generate().public_key(),
        not_after=now() + timedelta(days=30),
    )
    signer = x509.load_pem_x509_certificate(issued.sign_certificate_pem.encode())
    der = signer.public_bytes(serialization.Encoding.DER)
    content = b"%PDF-1.7 bid " * 1000
    digest = signed.sha256_of(io.BytesIO(content))
    attributes = signed.signed_attributes(content_digest=digest, signer_der=der)
    chain = [x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
             for pem in facade.chain_pems()]  # fmt: skip
    p7s = signed.detached_signed_data(
        attributes_der=attributes,
        signature=_sign_as_the_signing_service(key, attributes),
        signer_der=der,
        chain_der=chain,
    )
    assert bid_signature_check(signature=p7s, content_digest=digest) == (
        True,
        "王建国（景德镇瓷都建设工程有限公司）",
        "",
    )
    valid, _subject, message = bid_signature_check(signature=p7s, content_digest=signed.sha256_of(io.BytesIO(b"x")))
    assert (valid, message) == (False, "签名无效：the file does not match the signature (message digest)")
    (tmp_path / "bid").write_bytes(content)
    (tmp_path / "bid.p7s").write_bytes(p7s)
    (tmp_path / "root.pem").write_text(facade.chain_pems()[-1])
    verified = _openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "bid.p7s"), "-content",
                        str(tmp_path / "bid"), "-CAfile", str(tmp_path / "root.pem"), "-purpose", "any",
                        "-out", "/dev/null")  # fmt: skip
    assert verified.returncode == 0, verified.stderr


def _peak_rss_kib() -> int:
    """The process's peak resident size since the last ``_reset_peak_rss`` (VmHWM), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/self/status")


def _reset_peak_rss() -> None:
    """Linux ≥ 4.0: writing 5 to clear_refs resets the peak to the current size, so what earlier tests in the same
    process used does not count against this one."""
    Path("/proc/self/clear_refs").write_text("5")


@pytest.mark.slow
def test_a_file_larger_than_2_gib_round_trips_in_constant_memory(tmp_path: Path) -> None:
    import hashlib

    _reset_peak_rss()
    start = _peak_rss_kib()
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = _self_signed(key)
    size = 2 * 1024**3 + 12345

    class Pattern(io.RawIOBase):
        """A 2 GiB plaintext that is never on disk: a counter pattern generated as it is read."""

        def __init__(self) -> None:
            self.left, self.block = size, hashlib.sha256(b"seed").digest() * (1 << 16)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            count = min(len(buffer), self.left, len(self.block))
            buffer[:count] = self.block[:count]
            self.left -= count
            return count

    with (tmp_path / "big.bin").open("wb") as sink:
        sealed = enveloped.seal(Pattern(), sink, certificate)
    expected = hashlib.sha256()
    source = Pattern()
    chunk = bytearray(1 << 22)
    while count := source.readinto(chunk):
        expected.update(memoryview(chunk)[:count])
    assert sealed.size == size and sealed.plaintext_sha256 == expected.digest()
    from mobileca.shield.envelopes import content_key

    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    cek = content_key(sealed.header, private_key=key, certificate_pem=pem).key
    with (tmp_path / "big.bin").open("rb") as cipher:
        opened_size, digest = enveloped.open_to_file(sealed.header, cek, cipher, tmp_path / "big.out")
    assert opened_size == size and digest == expected.digest()
    assert _peak_rss_kib() - start < 256 * 1024  # KiB: the peak grew by far less than the file's size


# --- the platform: tenders, sealing, deadline, opening ---------------------------------------------------------


@pytest.fixture
def operator(db: None) -> Client:
    """The tender agent (招标代理)."""
    return login(Client(), staff("agent", permission=("bidding", "add_tender")))


def _tender(operator: Client, project_no: str = "JDZ-2026-041", deadline: timedelta = timedelta(days=2)) -> Tender:
    local = (now() + deadline).astimezone().replace(tzinfo=None)
    response = operator.post(
        "/backoffice/tenders/",
        {
            "project_no": project_no,
            "name": "瓷都大道路灯采购",
            "bid_deadline": local.isoformat(timespec="minutes"),
            "opening_at": (local + timedelta(hours=1)).isoformat(timespec="minutes"),
        },
    )
    assert response.status_code == 302, response.content.decode()
    return Tender.objects.get(project_no=project_no)


@pytest.fixture
def claimant(
    bidder_client: Client, registered: Card, ca_ready: None, settings: Any, tmp_path: Path
) -> tuple[Client, Card]:
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    phone, _ = _activated(bidder_client, registered)
    bidder_client.get(f"/ca/cards/{registered.cert_id}/claim/status/")
    registered.refresh_from_db()
    return phone, registered


def _approve(phone: Client, url: str, pin: str = PIN) -> Any:
    return phone.post(url.removeprefix("http://testserver"), {"pin": pin, "decision": "approve"})


def _upload(bidder_client: Client, tender: Tender, card: Card, content: bytes, name: str = "投标文件.pdf") -> Any:
    return bidder_client.post(
        f"/bidding/tenders/{tender.project_no}/upload/?card={card.cert_id}",
        {"bid_file": SimpleUploadedFile(name, content)},
    )


def _submitted(bidder_client: Client, phone: Client, tender: Tender, card: Card, content: bytes) -> Bid:
    response = _upload(bidder_client, tender, card, content)
    assert response.status_code == 302, response.content.decode()
    bid = Bid.objects.latest("pk")
    assert bid.status == "signing" and bid.authorization_url
    page = bidder_client.get(f"/bidding/bids/{bid.pk}/").content.decode()
    assert "请申领人使用手机扫码" in page and "<svg" in page
    assert _approve(phone, bid.authorization_url).status_code == 302
    page = bidder_client.get(f"/bidding/bids/{bid.pk}/").content.decode()
    bid.refresh_from_db()
    assert bid.status == "submitted", (bid.failure_code, bid.failure_message)
    assert "已于" in page and "递交" in page
    return bid


def _phone(user_id: str = "2088102000000001") -> Client:
    """The claimant signs in on the phone again (a phone login lasts one sitting)."""
    phone = Client()
    start = phone.get("/h5/login/?next=/h5/authorizations/")
    back = phone.post(start["Location"].removeprefix("http://testserver"), {"user_id": user_id})
    phone.get(back["Location"].removeprefix("http://testserver"))
    return phone


def _open(bidder_client: Client, bid: Bid) -> Bid:
    """At the opening time the bidder asks; the claimant, signed in on the phone again, enters the PIN."""
    clock.set(bid.tender.opening_at + timedelta(minutes=1))
    assert bidder_client.post(f"/bidding/bids/{bid.pk}/open/").status_code == 302
    bid.refresh_from_db()
    assert bid.status == "opening"
    phone = _phone()
    assert bid.authorization_url.removeprefix("http://testserver") in phone.get("/h5/authorizations/").content.decode()
    _approve(phone, bid.authorization_url)
    bidder_client.get(f"/bidding/bids/{bid.pk}/")
    bid.refresh_from_db()
    return bid


def test_a_bid_sealed_in_the_browser_is_signed_on_the_phone_and_opened_at_the_opening_time(
    operator: Client, bidder_client: Client, claimant: tuple[Client, Card], tmp_path: Path
) -> None:
    from mobileca.ca import facade

    phone, card = claimant
    tender = _tender(operator)
    content = b"%PDF-1.7 sealed bid " * 50_000
    bid = _submitted(bidder_client, phone, tender, card, content)
    stored = ciphertext_path(bid).read_bytes()
    assert len(stored) == len(content) and content[:4096] not in stored  # only ciphertext on the platform
    assert not list((tmp_path / "private").rglob("*opened*"))

    # the stored signature is a detached CMS SignedData openssl accepts over the plaintext
    (tmp_path / "bid").write_bytes(content)
    (tmp_path / "bid.p7s").write_bytes(bytes(bid.signature))
    (tmp_path / "root.pem").write_text(facade.chain_pems()[-1])
    verified = _openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "bid.p7s"), "-content",
                        str(tmp_path / "bid"), "-CAfile", str(tmp_path / "root.pem"), "-out", "/dev/null")  # fmt: skip
    assert verified.returncode == 0, verified.stderr

    early = bidder_client.post(f"/bidding/bids/{bid.pk}/open/")
    assert early.status_code == 409 and "未到开标时间" in early.content.decode()
    opened = _open(bidder_client, bid)
    assert opened.status == "opened" and opened.signature_valid is True
    assert opened.signer_subject == f"王建国（{card.enterprise.name}）"
    assert plaintext_path(opened).read_bytes() == content
    page = bidder_client.get(f"/bidding/bids/{bid.pk}/").content.decode()
    assert "签名有效" in page
    overview = operator.get(f"/backoffice/tenders/{tender.project_no}/").content.decode()
    assert "已解密，签名有效" in overview


def test_bids_after_the_deadline_are_refused(bidder_client: Client, claimant: tuple[Client, Card]) -> None:
    phone, card = claimant
    tender = tender_open_for_bids(deadline=timedelta(minutes=3))
    response = _upload(bidder_client, tender, card, b"bid")
    bid = Bid.objects.get()
    clock.set(tender.bid_deadline + timedelta(seconds=1))  # the claimant signs too late (within the 5 minutes)
    _approve(phone, bid.authorization_url)
    bidder_client.get(f"/bidding/bids/{bid.pk}/")
    bid.refresh_from_db()
    assert response.status_code == 302 and bid.status == "refused" and bid.failure_code == "deadline_passed"
    late = _upload(bidder_client, tender, card, b"bid again")
    assert late.status_code == 409 and "已过投标截止时间" in late.content.decode()
    assert Bid.objects.count() == 1


def test_a_tampered_ciphertext_fails_the_opening_and_leaves_no_plaintext(
    bidder_client: Client, claimant: tuple[Client, Card], tmp_path: Path
) -> None:
    _, card = claimant
    bid = sealed_bid(tender=tender_open_for_bids(), service_no=card.service_no, content=b"a bid " * 1000)
    data = bytearray(ciphertext_path(bid).read_bytes())
    data[100] ^= 0x80
    ciphertext_path(bid).write_bytes(bytes(data))
    opened = _open(bidder_client, bid)
    assert (opened.status, opened.failure_code) == ("failed", "tampered")
    assert "文件已被篡改" in bidder_client.get(f"/bidding/bids/{bid.pk}/").content.decode()
    assert not list((tmp_path / "private").rglob("opened/*")) and not list((tmp_path / "private").rglob(".*part"))


def test_renewal_warns_about_the_sealed_bid_and_afterwards_it_opens_with_the_archived_key(
    bidder_client: Client, claimant: tuple[Client, Card], finance: User
) -> None:
    # R4.2, issue 21: the renewal lists the bid; after re-keying, the archived key opens it and the result says so
    from mobileca.shield.facade import renewal_warnings
    from tests.support.shield import _pay, _renew, _renewal_ticket

    _, card = claimant
    tender = tender_open_for_bids()
    bid = sealed_bid(tender=tender, service_no=card.service_no, content=b"sealed before renewal")
    warnings = renewal_warnings(card_ref=card.cert_id)
    assert [(w.tender_no, w.file_name) for w in warnings] == [(tender.project_no, "投标文件.pdf")]
    _pay(_renew(bidder_client, card), finance)
    ticket = _renewal_ticket(bidder_client, card)
    from tests.support.shield import _scan_and_login

    renewal_phone = Client()
    page = _scan_and_login(renewal_phone, ticket, "2088102000000001").content.decode()  # type: ignore[attr-defined]
    assert tender.project_no in page and "续费后这些文件仍可解密" in page
    renewal_phone.post(f"/h5/claim/{ticket}/renewal/", {"pin": PIN, "bids_confirmed": "yes"})
    assert Credential.objects.get().encrypt_serial != bid.recipient_serial
    opened = _open(bidder_client, bid)
    assert opened.status == "opened" and plaintext_path(opened).read_bytes() == b"sealed before renewal"
    assert opened.opened_with_serial == bid.recipient_serial and opened.failure_message == ""
    # signed before the renewal revoked that certificate as superseded: the signature stays valid (issue 21)
    assert opened.signature_valid is True, opened.failure_message


def test_enterprises_see_only_their_own_bids(claimant: tuple[Client, Card], other_bidder: User) -> None:
    _, card = claimant
    bid = sealed_bid(tender=tender_open_for_bids(), service_no=card.service_no, content=b"mine")
    other = Client()
    other.force_login(other_bidder)
    assert other.get(f"/bidding/bids/{bid.pk}/").status_code == 404
    assert other.post(f"/bidding/bids/{bid.pk}/open/").status_code == 404
    refused = other.post(
        f"/bidding/tenders/{bid.tender.project_no}/upload/?card={card.cert_id}",
        {"bid_file": SimpleUploadedFile("x.pdf", b"x")},
    )
    assert refused.status_code == 404 and Bid.objects.count() == 1


def test_only_tender_operators_create_tenders(bidder_client: Client, operator: Client) -> None:
    refused = bidder_client.get("/backoffice/tenders/")
    assert refused.status_code == 403 and "仅招标代理人员可以访问此页面" in refused.content.decode()
    past = operator.post(
        "/backoffice/tenders/",
        {"project_no": "P-1", "name": "x", "bid_deadline": "2020-01-01T10:00", "opening_at": "2020-01-01T11:00"},
    )
    assert past.status_code == 400 and not Tender.objects.exists()


# --- the command-line tool: sealed on the bidder's machine, only ciphertext uploaded ---------------------------


def _tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, phone: Client) -> None:
    """Log the tool in (token) and route its HTTP to the test server in-process."""
    from mobileca.cli import main as cli
    from tests.support.shield import _device_login

    token = _device_login(phone)
    transport = DjangoTestTransport()
    real_client = httpx.Client

    def client(*args: Any, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("transport", transport)
        return real_client(*args, **kwargs)

    monkeypatch.setattr(cli.httpx, "Client", client)  # the tool's HTTP goes to the test server in-process
    monkeypatch.setenv("MOBILECA_CONFIG_DIR", str(tmp_path / "config"))
    cli._save_token("http://testserver", {"access_token": token, "expires_at": 4102444800})


def test_the_tool_seals_locally_uploads_ciphertext_and_the_bid_opens(
    bidder_client: Client,
    claimant: tuple[Client, Card],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mobileca.cli import main as cli

    phone, _card = claimant
    tender = tender_open_for_bids()
    _tool(tmp_path, monkeypatch, phone)
    document = tmp_path / "投标文件.zip"
    content = b"PK tool sealed bid " * 100_000
    document.write_bytes(content)
    monkeypatch.setattr("sys.stdin", io.StringIO(PIN + "\n"))
    assert cli.main(["bid", "seal", str(document), "--tender", tender.project_no, "--pin-stdin"]) == 0
    bid = Bid.objects.get()
    assert (bid.status, bid.channel, bid.size) == ("submitted", "tool", len(content))
    assert content[:4096] not in ciphertext_path(bid).read_bytes()
    assert (tmp_path / "投标文件.zip.p7m").exists() and (tmp_path / "投标文件.zip.p7s").exists()
    opened = _open(bidder_client, bid)
    assert opened.status == "opened" and opened.signature_valid is True
    assert plaintext_path(opened).read_bytes() == content


def test_the_platform_refuses_a_tool_bid_signed_outside_the_channel(claimant: tuple[Client, Card]) -> None:
    # R4.5: a signature by a look-alike certificate (not issued through this platform) is refused at submission
    import base64

    from tests.support.shield import _device_login

    phone, _card = claimant
    tender = tender_open_for_bids()
    token = _device_login(phone)
    credential = Credential.objects.get()
    from mobileca.ca import facade

    recipient = x509.load_pem_x509_certificate(facade.certificate_pem(serial_hex=credential.encrypt_serial).encode())
    sealed = enveloped.seal(io.BytesIO(b"bid"), io.BytesIO(), recipient)
    outsider = ec.generate_private_key(ec.SECP256R1())
    look_alike = _self_signed(outsider)
    der = look_alike.public_bytes(serialization.Encoding.DER)
    attributes = signed.signed_attributes(content_digest=sealed.plaintext_sha256, signer_der=der)
    p7s = signed.detached_signed_data(
        attributes_der=attributes,
        signature=outsider.sign(attributes, ec.ECDSA(hashes.SHA256())),
        signer_der=der,
        chain_der=[],
    )
    response = Client().post(
        f"/bidding/api/tenders/{tender.project_no}/bids",
        json.dumps(
            {
                "credentialID": credential.service_no,
                "fileName": "bid.pdf",
                "size": sealed.size,
                "header": base64.b64encode(sealed.header).decode(),
                "signature": base64.b64encode(p7s).decode(),
            }
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 400 and response.json()["error"] == "wrong_signer"
    assert not Bid.objects.exists()


def test_a_signature_that_does_not_verify_is_reported_at_the_opening(
    bidder_client: Client, claimant: tuple[Client, Card]
) -> None:
    from asn1crypto import cms

    _, card = claimant
    bid = sealed_bid(tender=tender_open_for_bids(), service_no=card.service_no, content=b"bid with a broken signature")
    info = cms.ContentInfo.load(bytes(bid.signature))
    signer = info["content"]["signer_infos"][0]
    broken = bytearray(signer["signature"].native)
    broken[-1] ^= 0x01
    signer["signature"] = bytes(broken)
    Bid.objects.filter(pk=bid.pk).update(signature=info.dump(force=True))
    opened = _open(bidder_client, bid)
    assert opened.status == "opened" and opened.signature_valid is False
    assert "签名无效" in opened.failure_message
    assert "签名无效" in bidder_client.get(f"/bidding/bids/{bid.pk}/").content.decode()


def test_a_card_whose_certificates_fail_the_channel_check_cannot_bid(
    bidder_client: Client, claimant: tuple[Client, Card], tmp_path: Path
) -> None:
    # R4.5: a revoked certificate (e.g. the member was removed) is refused before anything is stored
    from cryptography.x509 import ReasonFlags

    from mobileca.ca import facade

    _, card = claimant
    tender = tender_open_for_bids()
    facade.credential_revoke(owner_id=f"credential:{card.service_no}", reason=ReasonFlags.affiliation_changed)
    refused = _upload(bidder_client, tender, card, b"bid")
    assert refused.status_code == 403
    assert "证书未通过本平台的通道校验：此证书已被吊销" in refused.content.decode()
    assert not Bid.objects.exists() and not list((tmp_path / "private").rglob("*.bin"))


def test_a_second_poll_while_the_first_holds_the_authorisation_does_not_refuse_the_bid(
    bidder_client: Client, claimant: tuple[Client, Card]
) -> None:
    # two tabs (or the page's next refresh): the one that did not get the SAD leaves the bid to the other
    from mobileca.shield import facade as shield

    phone, card = claimant
    _upload(bidder_client, tender_open_for_bids(), card, b"bid")
    bid = Bid.objects.get()
    _approve(phone, bid.authorization_url)
    assert shield.authorization_sad(handle=bid.authorization_handle)  # the "other tab" takes it
    bidder_client.get(f"/bidding/bids/{bid.pk}/")
    bid.refresh_from_db()
    assert bid.status == "signing" and not bid.failure_code


def test_a_malformed_tool_signature_is_refused_not_a_500(claimant: tuple[Client, Card]) -> None:
    import base64

    from mobileca.ca import facade
    from tests.support.shield import _device_login

    phone, _ = claimant
    tender = tender_open_for_bids()
    token = _device_login(phone)
    credential = Credential.objects.get()
    recipient = x509.load_pem_x509_certificate(facade.certificate_pem(serial_hex=credential.encrypt_serial).encode())
    sealed = enveloped.seal(io.BytesIO(b"bid"), io.BytesIO(), recipient)
    for signature in (b"garbage", b"\x30\x03\x06\x01\x00"):
        response = Client().post(
            f"/bidding/api/tenders/{tender.project_no}/bids",
            json.dumps({"credentialID": credential.service_no, "fileName": "bid.pdf", "size": 3,
                        "header": base64.b64encode(sealed.header).decode(),
                        "signature": base64.b64encode(signature).decode()}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )  # fmt: skip
        assert response.status_code == 400 and response.json()["error"] == "bad_bid_file"
    assert not Bid.objects.exists()


def test_the_envelope_reader_imports_without_django_settings() -> None:
    # the bid-file benchmark and the tool open envelopes in plain processes: importing the reader must not need
    # Django's settings (it once reached the models through ca.facade and broke the benchmark)
    import os
    import sys

    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", "import mobileca.shield.envelopes, mobileca.cmslib.enveloped, mobileca.cmslib.gm"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr


def test_sealing_records_the_stored_ciphertexts_digest_as_it_is_written(
    bidder_client: Client, claimant: tuple[Client, Card], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 21: the ciphertext's size and SHA-256 (what the readiness checks compare with) are taken while the
    browser's upload and the tool's PUT write it — the file is not read again at submission — and they are the
    stored file's."""
    from mobileca.bidding import readiness
    from mobileca.cli import main as cli

    def no_second_read(path: Path) -> tuple[int, str]:
        raise AssertionError(f"the ciphertext was read again: {path}")

    phone, card = claimant
    monkeypatch.setattr(readiness, "file_digest", no_second_read)
    tender = tender_open_for_bids()
    browser_bid = _submitted(bidder_client, phone, tender, card, b"browser sealed " * 50_000)
    _tool(tmp_path, monkeypatch, phone)
    document = tmp_path / "工具投标文件.zip"
    document.write_bytes(b"PK tool sealed " * 50_000)
    monkeypatch.setattr("sys.stdin", io.StringIO(PIN + "\n"))
    assert cli.main(["bid", "seal", str(document), "--tender", tender.project_no, "--pin-stdin"]) == 0
    tool_bid = Bid.objects.get(tender=tender, channel="tool")
    for bid in (browser_bid, tool_bid):
        bid.refresh_from_db()
        stored = ciphertext_path(bid).read_bytes()
        assert (bid.ciphertext_bytes, bid.ciphertext_sha256) == (len(stored), hashlib.sha256(stored).hexdigest())
