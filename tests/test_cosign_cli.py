"""The command-line tool with a two-party SM2 credential (issue 20, R4.5, R5.2): ``mobileca sign`` sends no PIN (the
service would refuse it, ``phone_required``), prints the QR code and link for the phone and polls ``authorizeCheck``
while the claimant's (headless) phone approves with the PIN and plays the rounds; the GB/T 35275 signature it writes
verifies under the certificate's two-party key."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from django.db import connection

from mobileca.ca import facade as ca_facade
from mobileca.cards.models import Card
from mobileca.cmslib import gm
from mobileca.shield import api as csc_api
from mobileca.shield import callers
from mobileca.shield.models import CosignRound, Credential, KeyUseAuthorization, KeyUseStatus
from tests.support.cli import tool_in_process
from tests.support.cosign import HeadlessPhone, split_credential
from tests.support.shield import LEGAL_REP, PIN, ca_ready, card, registered  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def _sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())  # cryptography's SM3 (OpenSSL), not the code under test
    digest.update(data)
    return digest.finalize()


def _token_for(account: str) -> str:
    start = callers.device_start(client_name="test")
    callers.device_decide(user_code=start.user_code, account=account, allow=True)
    token, _ = callers.device_token(device_code=start.device_code)
    return str(token)


class PhoneAtTheQrCode:
    """The claimant's phone, waiting in a thread of its own for the QR code the tool prints, then approving that
    request with the PIN (the two-party rounds) while the tool polls."""

    def __init__(self, phone: HeadlessPhone, monkeypatch: pytest.MonkeyPatch) -> None:
        from mobileca.cli import main as cli

        self.phone, self.shown, self.result = phone, threading.Event(), {}
        self.url = ""
        real = cli._show_qr

        def show(url: str, out: Any) -> None:
            real(url, out)
            self.url = url
            self.shown.set()

        monkeypatch.setattr(cli, "_show_qr", show)
        self.thread = threading.Thread(target=self._approve)
        self.thread.start()

    def _approve(self) -> None:
        try:
            if self.shown.wait(timeout=60):
                self.result["answer"] = self.phone.approve(self.url.rstrip("/").rsplit("/", 1)[-1])
        except Exception as exc:  # noqa: BLE001 - the test reports what the phone got
            self.result["error"] = exc
        finally:
            connection.close()

    def join(self) -> dict[str, Any]:
        self.shown.set()  # never left waiting if the tool failed before its QR code
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()
        return self.result


@pytest.fixture
def split_tool(
    registered: Card, ca_ready: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[Credential, HeadlessPhone, list[tuple[str, dict[str, Any]]]]:
    """A split credential, its phone, and its claimant's tool logged in (HTTP in-process); every API call the tool
    makes is kept (method, body)."""
    from mobileca.cli import main as cli

    credential, phone = split_credential(registered)
    tool_in_process(monkeypatch, tmp_path / "config", _token_for(LEGAL_REP))
    sent: list[tuple[str, dict[str, Any]]] = []
    real_post = cli.Api.post

    def post(self: Any, method: str, body: dict[str, Any], **kwargs: Any) -> tuple[int, dict[str, Any]]:
        sent.append((method, dict(body)))
        return real_post(self, method, body, **kwargs)

    monkeypatch.setattr(cli.Api, "post", post)
    return credential, phone, sent


def _signed_by_the_two_party_key(credential: Credential, p7s: bytes, content: bytes) -> None:
    pem = ca_facade.certificate_pem(serial_hex=credential.sign_serial)
    signer = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    assert gm.verify_detached(p7s, _sm3(content)) == signer
    (round_,) = CosignRound.objects.filter(kind="sign", outcome="done")
    assert bytes(round_.signature or b"") in p7s  # the phone's finished signature, not one the service made


def test_sign_without_a_pin_waits_for_the_phone_and_writes_a_verifying_signature(
    split_tool: tuple[Credential, HeadlessPhone, list[tuple[str, dict[str, Any]]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 20, R4.5: ``mobileca sign FILE``: 202, the QR code and link, polling while the phone approves."""
    from mobileca.cli import main as cli

    credential, phone, sent = split_tool
    document = tmp_path / "合同.pdf"
    content = b"%PDF-1.7 two-party " * 5000
    document.write_bytes(content)

    at_the_qr_code = PhoneAtTheQrCode(phone, monkeypatch)
    code = cli.main(["sign", str(document)])
    phone_result = at_the_qr_code.join()

    printed = capsys.readouterr().out
    assert code == 0, printed
    assert phone_result == {"answer": {"status": "authorized"}}, phone_result
    assert "请用手机扫码" in printed and at_the_qr_code.url in printed and "/h5/authorizations/" in at_the_qr_code.url
    assert [method for method, _ in sent].count("credentials/authorizeCheck") >= 1
    assert not any("authData" in body or "PIN" in body for _, body in sent)
    _signed_by_the_two_party_key(credential, (tmp_path / "合同.pdf.p7s").read_bytes(), content)


def test_sign_with_pin_stdin_is_turned_to_the_phone_and_the_pin_is_not_counted(
    split_tool: tuple[Credential, HeadlessPhone, list[tuple[str, dict[str, Any]]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 20: ``--pin-stdin`` against a service whose authInfo still offers the PIN for a split credential (one
    from before the split keys): the authorisation with the PIN is refused ``phone_required`` before anything is
    stored, the tool says so and goes on through the phone."""
    from mobileca.cli import main as cli

    credential, phone, sent = split_tool
    pin_or_phone = {"mode": "explicit", "expression": "PIN OR PHONE", "objects": [{"id": "PIN"}, {"id": "PHONE"}]}
    monkeypatch.setattr(csc_api, "_auth_info", lambda *args, **kwargs: pin_or_phone)
    document = tmp_path / "bid.pdf"
    content = b"bid " * 10000
    document.write_bytes(content)
    monkeypatch.setattr("sys.stdin", io.StringIO(PIN + "\n"))

    at_the_qr_code = PhoneAtTheQrCode(phone, monkeypatch)
    code = cli.main(["sign", str(document), "--pin-stdin"])
    phone_result = at_the_qr_code.join()

    printed = capsys.readouterr().err
    assert code == 0, printed
    assert phone_result == {"answer": {"status": "authorized"}}, phone_result
    assert cli.PHONE_ONLY in printed
    authorizations = [body for method, body in sent if method == "credentials/authorize"]
    assert ["authData" in body for body in authorizations] == [True, False]
    credential.refresh_from_db()
    assert credential.pin_failures == 0
    assert KeyUseAuthorization.objects.get().status == KeyUseStatus.USED
    _signed_by_the_two_party_key(credential, (tmp_path / "bid.pdf.p7s").read_bytes(), content)


def test_sign_with_pin_stdin_sends_no_pin_when_the_credential_is_phone_only(
    split_tool: tuple[Credential, HeadlessPhone, list[tuple[str, dict[str, Any]]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 20: the service's authInfo for a split credential offers only the phone (``PHONE``), even to the
    claimant's own tool: the tool does not read or send the PIN at all."""
    from mobileca.cli import main as cli

    credential, phone, sent = split_tool
    document = tmp_path / "bid.pdf"
    content = b"bid " * 100
    document.write_bytes(content)
    stdin = io.StringIO(PIN + "\n")
    monkeypatch.setattr("sys.stdin", stdin)

    at_the_qr_code = PhoneAtTheQrCode(phone, monkeypatch)
    code = cli.main(["sign", str(document), "--pin-stdin"])
    phone_result = at_the_qr_code.join()

    printed = capsys.readouterr().err
    assert code == 0 and phone_result == {"answer": {"status": "authorized"}}, (printed, phone_result)
    assert cli.PHONE_ONLY in printed and stdin.tell() == 0  # the PIN was never read
    assert not any("authData" in body for _, body in sent)
    _signed_by_the_two_party_key(credential, (tmp_path / "bid.pdf.p7s").read_bytes(), content)
