"""Browser walk through using the key from a terminal (R4.3–R4.6): the legal representative claims a card on his
phone, then the real ``mobileca`` console script logs in by device code (RFC 8628) and signs a file while the same
phone, still signed in to the H5 pages, allows the login and enters the PIN. openssl checks the detached signature.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from mobileca.accounts.models import User
from tests.factories import UserFactory
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

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


MOBILECA = Path(sys.executable).with_name("mobileca")  # the console script installed beside this interpreter
TOOL_TIMEOUT_S = 30.0


class Tool:
    """The console script as a user runs it in a terminal; its output read line by line in the background."""

    def __init__(self, *args: str, config_dir: Path) -> None:
        env = {**os.environ, "MOBILECA_CONFIG_DIR": str(config_dir), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(  # noqa: S603
            [str(MOBILECA), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        self.stderr.extend(self.process.stderr)

    def _report(self) -> str:
        return f"stdout:\n{''.join(self.stdout)}\nstderr:\n{''.join(self.stderr)}"

    def line_where(self, wanted: Callable[[str], bool], timeout: float = TOOL_TIMEOUT_S) -> str:
        """The next printed line (stripped) that is ``wanted``; fails if the tool exits or stays silent first."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                pytest.fail(f"mobileca exited ({self.process.wait()}) before the line\n{self._report()}")
            self.stdout.append(line)
            if wanted(line.strip()):
                return line.strip()
        pytest.fail(f"mobileca printed no such line within {timeout} s\n{self._report()}")

    def finish(self, timeout: float = TOOL_TIMEOUT_S) -> str:
        """Wait for a clean exit; everything it printed on stdout."""
        try:
            returncode = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"mobileca still running after {timeout} s\n{self._report()}")
        for reader in self._readers:
            reader.join(timeout=5)
        while not self.lines.empty():
            line = self.lines.get_nowait()
            if line is not None:
                self.stdout.append(line)
        assert returncode == 0, self._report()
        return "".join(self.stdout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        for reader in self._readers:
            reader.join(timeout=5)


@contextmanager
def running(*args: str, config_dir: Path) -> Iterator[Tool]:
    tool = Tool(*args, config_dir=config_dir)
    try:
        yield tool
    finally:
        tool.kill()


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)  # noqa: S603, S607


def test_the_command_line_tool_logs_in_and_signs_a_file_while_the_phone_allows_and_enters_the_pin(
    gateways_on_live_server: str, browser: Browser, page: Page, tmp_path: Path
) -> None:
    from mobileca.ca import facade
    from mobileca.shield.models import OperationRecord

    base = gateways_on_live_server
    enterprise = registered_enterprise("景德镇昌南建设集团有限公司")
    bidder: User = UserFactory.create(enterprise=enterprise)
    [cert_id] = paid_cards(bidder, 1)
    log_in(page, base, bidder)
    h5_url = open_claim(page, base, cert_id)
    config_dir = tmp_path / "cfg"
    document = tmp_path / "投标文件.pdf"
    document.write_bytes(b"%PDF-1.4 bid " * 5000)

    # one phone throughout: its H5 session keeps 王建国 signed in after the claim
    with phone_context(browser) as context:
        phone = context.new_page()
        scan_and_log_in(phone, h5_url, LEGAL_REP[1])
        claim_through_face(phone, organisation_name=enterprise.name)
        verify_enterprise_by_legal_rep_face(phone)
        set_pin_and_finish(phone, "h5-activated-for-the-tool.png")
        expect_card_activated(page, cert_id)

        # `mobileca login`: the terminal shows a QR code, its address and the 登录码; the phone compares and allows
        with running("login", "--server", base, config_dir=config_dir) as login:
            device_url = login.line_where(lambda line: line.startswith("http") and "/h5/device/" in line)
            user_code = login.line_where(lambda line: line.startswith("登录码")).removeprefix("登录码").strip()
            phone.goto(device_url)
            expect(phone.get_by_role("heading", name="登录命令行工具")).to_be_visible()
            expect(phone.locator("#user-code")).to_have_text(user_code)
            phone.get_by_role("button", name="允许").click()
            expect(phone.locator("#device-state")).to_have_text("已允许。请回到电脑上的工具继续。")
            assert "已登录" in login.finish()
        assert (config_dir / "token.json").stat().st_mode & 0o777 == 0o600

        # `mobileca sign FILE`: the phone shows the file, takes the PIN; the tool writes FILE.p7s
        with running("sign", str(document), config_dir=config_dir) as signing:
            authorization_url = signing.line_where(lambda line: "/h5/authorizations/" in line)
            phone.goto(authorization_url)
            expect(phone.get_by_role("heading", name="授权签名")).to_be_visible()
            expect(phone.locator("#file-name")).to_have_text(document.name)
            phone.get_by_label("PIN 码").fill(PIN)
            phone.get_by_role("button", name="确认授权").click()
            expect(phone.locator("#authorization-state")).to_have_text("已授权")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            phone.screenshot(path=str(ARTIFACTS / "h5-authorize-sign.png"), full_page=True)
            assert "已签名" in signing.finish()

        # issue 15: the signature is a leaf of the transparency log; the phone's 操作记录 shows it included, and
        # `mobileca records --verify` checks its inclusion proof and the signed tree head against the live server
        from mobileca.audit.sequencer import audit_sequence

        audit_sequence()  # what the job worker does every second
        phone.goto(f"{base}/h5/records/")
        expect(phone.get_by_text("已纳入最新签名树头").first).to_be_visible()
        phone.screenshot(path=str(ARTIFACTS / "h5-records-transparency.png"), full_page=True)
        with running("records", "--verify", config_dir=config_dir) as records:
            listed = records.finish()
        assert "ALERT" not in listed and "sign" in listed

    signature = document.with_name(document.name + ".p7s")
    assert signature.is_file()
    (tmp_path / "root.pem").write_text(facade.chain_pems()[-1])
    verified = _openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", str(signature), "-content",
                        str(document), "-CAfile", str(tmp_path / "root.pem"), "-out", "/dev/null")  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert "Verification successful" in verified.stderr
    assert OperationRecord.objects.filter(action="sign").count() == 1
