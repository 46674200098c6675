"""The command-line tool with an SM2 credential (issue 19): ``sign`` writes a GB/T 35275 detached SignedData (SM3
of the file, the SM2 signature of e = SM3(Z ‖ attributes) made through the remote-signing API with signAlgo
1.2.156.10197.1.501 and hash SM3) and prints the SM3 the phone shows; ``bid seal`` seals with ``cmslib.gm``
(``--cipher``, ``--flavour``), signs the same way and uploads only ciphertext; the platform opens the bid. The files
are checked by BouncyCastle, a peer nobody here wrote."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from asn1crypto import cms, core
from cryptography.hazmat.primitives import hashes
from django.test import Client

from mobileca.bidding.models import Bid
from mobileca.bidding.storage import ciphertext_path, plaintext_path
from mobileca.ca.models import IssuedCertificate
from mobileca.cards.models import Card
from mobileca.cmslib import gm, shown
from mobileca.shield import callers
from mobileca.shield.models import Credential
from tests.support.bidding import tender_open_for_bids
from tests.support.cli import tool_in_process
from tests.support.shield import (  # noqa: F401 (fixtures)
    LEGAL_REP,
    PIN,
    activated_credential,
    ca_ready,
    card,
    registered,
)
from tests.test_bidding import _open, _tool
from tests.test_sm2_bidding import _run, checker, sm2_claimant  # noqa: F401 (fixtures)


def _sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())  # cryptography's SM3 (OpenSSL), not the code under test
    digest.update(data)
    return digest.finalize()


class _AnyContentInfo(core.Sequence):
    """ContentInfo whatever its content type's OID (asn1crypto knows only RFC 5652's)."""

    _fields = [("content_type", core.ObjectIdentifier), ("content", core.Any, {"explicit": 0})]


def _token_for(account: str) -> str:
    start = callers.device_start(client_name="test")
    callers.device_decide(user_code=start.user_code, account=account, allow=True)
    token, _ = callers.device_token(device_code=start.device_code)
    return token


@pytest.fixture
def sm2_tool(registered: Card, ca_ready: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Credential:
    """An SM2 credential and its claimant's tool, logged in, its HTTP going to the test server in-process."""
    credential = activated_credential(registered, key_profile="sm2")
    tool_in_process(monkeypatch, tmp_path / "config", _token_for(LEGAL_REP))
    return credential


@pytest.mark.parametrize("flavour", ["rfc5652", "ofdrw"])
def test_sign_with_an_sm2_credential_writes_a_gbt35275_signature_that_bouncycastle_verifies(
    flavour: str,
    sm2_tool: Credential,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    checker: list[str],
) -> None:
    from mobileca.cli import main as cli

    document = tmp_path / "合同.pdf"
    content = b"%PDF-1.7 contract " * 20_000
    document.write_bytes(content)
    monkeypatch.setattr("sys.stdin", io.StringIO(PIN + "\n"))

    code = cli.main(["sign", str(document), "--pin-stdin", "--flavour", flavour])

    printed = capsys.readouterr().err
    assert code == 0, printed
    assert f"文件摘要（SM3）：{shown.digest_groups(_sm3(content))}" in printed
    assert "待签名摘要（SM3，手机上显示的应与此一致）" in printed
    p7s = (tmp_path / "合同.pdf.p7s").read_bytes()
    signer = bytes(IssuedCertificate.objects.get(serial_hex=sm2_tool.sign_serial).certificate_der)
    assert gm.verify_detached(p7s, _sm3(content)) == signer
    signed_data = _AnyContentInfo.load(p7s)["content"].parse(cms.SignedData)
    algorithm = signed_data["signer_infos"][0]["signature_algorithm"]["algorithm"].dotted
    assert algorithm == gm.FLAVOURS[flavour].signature_algorithm
    # BouncyCastle: its CMS layer knows 501; SM2-1 (301.1) is checked with its primitives, as ofdrw does
    if flavour == "rfc5652":
        done = _run(checker, "verify", tmp_path / "合同.pdf.p7s", document)
        assert done.returncode == 0 and done.stdout.split() == ["verified", gm.RFC_DATA, gm.SM2_SM3], done.stderr
    attrs = _run(checker, "verify-attrs", tmp_path / "合同.pdf.p7s")
    assert attrs.returncode == 0 and attrs.stdout.split() == ["verified"], attrs.stderr


def test_sign_with_an_sm2_credential_and_a_wrong_pin_writes_nothing(
    sm2_tool: Credential, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mobileca.cli import main as cli

    document = tmp_path / "合同.pdf"
    document.write_bytes(b"contract")
    monkeypatch.setattr("sys.stdin", io.StringIO("000000\n"))

    assert cli.main(["sign", str(document), "--pin-stdin"]) == 1
    assert not (tmp_path / "合同.pdf.p7s").exists()
    assert "mobileca:" in capsys.readouterr().err


@pytest.mark.parametrize(("cipher", "flavour"), [("sm4-gcm", "rfc5652"), ("sm4-cbc", "gbt35275")])
def test_bid_seal_with_an_sm2_credential_seals_signs_uploads_and_the_bid_opens(
    cipher: str,
    flavour: str,
    bidder_client: Client,
    sm2_claimant: tuple[Client, Card],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    checker: list[str],
) -> None:
    from mobileca.cli import main as cli

    phone, card = sm2_claimant
    tender = tender_open_for_bids()
    _tool(tmp_path, monkeypatch, phone)
    document = tmp_path / "投标文件.zip"
    content = b"PK SM2 tool sealed bid " * 50_000 + b"!"
    document.write_bytes(content)
    monkeypatch.setattr("sys.stdin", io.StringIO(PIN + "\n"))

    code = cli.main(
        ["bid", "seal", str(document), "--tender", tender.project_no, "--pin-stdin", "--cipher", cipher,
         "--flavour", flavour, "--keep"]
    )  # fmt: skip

    printed = capsys.readouterr().err
    assert code == 0, printed
    assert f"文件摘要（SM3）：{shown.digest_groups(_sm3(content))}" in printed
    bid = Bid.objects.get()
    assert (bid.status, bid.channel, bid.crypto_profile, bid.size) == ("submitted", "tool", "gm", len(content))
    assert bid.content_sm3 == _sm3(content).hex()
    assert gm.parse_header(bytes(bid.header)).mode == cipher.removeprefix("sm4-")
    assert bytes(bid.header) == (tmp_path / "投标文件.zip.p7m").read_bytes()
    stored = ciphertext_path(bid).read_bytes()
    assert stored == (tmp_path / "投标文件.zip.bin").read_bytes() and content[:4096] not in stored
    verified = _run(checker, "verify", tmp_path / "投标文件.zip.p7s", document)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.split() == ["verified", gm.FLAVOURS[flavour].data, gm.SM2_SM3]

    opened = _open(bidder_client, bid)
    assert (opened.status, opened.signature_valid) == ("opened", True), (opened.failure_code, opened.failure_message)
    assert plaintext_path(opened).read_bytes() == content
    assert card.enterprise.name in opened.signer_subject


def test_bid_seal_refuses_an_unknown_cipher_before_anything_is_written(
    sm2_tool: Credential, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mobileca.cli import main as cli

    document = tmp_path / "bid.pdf"
    document.write_bytes(b"bid")
    with pytest.raises(SystemExit):
        cli.main(["bid", "seal", str(document), "--tender", "T-1", "--cipher", "aes-128-cbc"])
    assert "invalid choice" in capsys.readouterr().err
    assert not (tmp_path / "bid.pdf.bin").exists() and not (tmp_path / "bid.pdf.p7m").exists()
    assert not Bid.objects.exists()
