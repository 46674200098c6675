"""The browser walks' shared pieces: Debian's Chromium driven by Playwright's sync API (the fixtures ``browser``,
``page``, ``gateways_on_live_server`` and the ORM allowed beside Playwright's loop), what a user does on the desktop
(log in, the left menu, 「CA 管理」) and on a phone (scan, claim, set the PIN), and the world before the browser
opens (a registered enterprise, paid cards). A browser test module imports the fixtures it uses by name."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from mobileca.accounts.models import Enterprise, User
from mobileca.cards.models import Card, CardStatus
from tests.factories import PASSWORD, EnterpriseFactory, FinanceFactory

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 15_000

PIN = "135790"
# identity sandbox people: Alipay user id, name, phone
LEGAL_REP = ("2088102000000001", "王建国", "13907980001")


@pytest.fixture(scope="module", autouse=True)
def _allow_orm_beside_playwright_loop() -> Iterator[None]:
    """Playwright's sync API runs an event loop in the test thread; Django then refuses ORM calls from it."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("MOBILECA_SKIP_BROWSER") == "1":
            pytest.skip(f"{CHROMIUM} missing and MOBILECA_SKIP_BROWSER=1")
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: run `apt-get install chromium` "
            "(or set MOBILECA_SKIP_BROWSER=1 to skip the browser tests)",
            pytrace=False,
        )
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser profile (own cookies); ``indirect`` parametrisation may turn JavaScript off."""
    javascript: bool = getattr(request, "param", True)
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 1280, "height": 900}, java_script_enabled=javascript
    )
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture
def gateways_on_live_server(live_server, settings, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the platform at the sandboxes of the live server, over real HTTP on loopback."""
    from config.settings import gateway_settings

    gateways = gateway_settings(live_server.url, Path(settings.MOBILECA_KEYS_DIR))
    settings.MOBILECA_PUBLIC_URL = live_server.url
    settings.MOBILECA_ALIPAY = gateways["alipay"]
    settings.MOBILECA_WECHATPAY = gateways["wechatpay"]
    for name in ("identity", "registry", "liveness", "sms", "bank"):
        setattr(settings, f"MOBILECA_{name.upper()}", gateways[name])
    real_client = lambda: httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))  # noqa: E731
    for module in (
        "payments.online",
        "sandboxes.common",
        "shield.providers",
    ):
        monkeypatch.setattr(f"mobileca.{module}.http_client", real_client)
    return live_server.url


# --- what a user does, in the user's words ------------------------------------------------------------------


def log_in(page: Page, base_url: str, user: User) -> None:
    page.goto(base_url + "/")
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    page.get_by_label("用户名").fill(user.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()


def open_ca_management(page: Page) -> None:
    """「工作台」 → 「投标服务 CA」 → 「CA 管理」 (R1.1)."""
    page.get_by_role("navigation").get_by_role("link", name="工作台", exact=True).click()
    expect(page.get_by_role("heading", name="工作台", exact=True)).to_be_visible()
    side = page.get_by_role("complementary")
    summary = side.get_by_text("投标服务 CA", exact=True)
    ca_management = side.get_by_role("link", name="CA 管理")
    # The menu starts folded: 「投标服务 CA」 unfolds it to show 「CA 管理」.
    expect(ca_management).to_be_hidden()
    summary.click()
    expect(ca_management).to_be_visible()
    ca_management.click()
    expect(page.get_by_role("heading", name="CA 管理", exact=True)).to_be_visible()


def left_menu(page: Page, label: str) -> None:
    page.get_by_role("complementary").get_by_role("link", name=label, exact=True).click()


def open_claim(page: Page, base_url: str, cert_id: str) -> str:
    """The bidder's 「CA 续费申领」 → the card's 「立即申领」: the QR code; returns the address it encodes."""
    page.goto(f"{base_url}/ca/cards/")
    page.locator(f'.card[data-cert-id="{cert_id}"]').get_by_role("link", name="立即申领").click()
    expect(page.locator(".qr svg")).to_be_visible()
    h5_url = page.locator("#h5-scan").get_attribute("href")
    assert h5_url
    return h5_url


@contextmanager
def phone_context(browser: Browser) -> Iterator[BrowserContext]:
    """A phone of its own: its own cookies, a phone-sized touch screen."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


def scan_and_log_in(phone: Page, h5_url: str, name: str) -> None:
    """Scan the QR code, 「支付宝登录」 as ``name`` in the identity sandbox: the claim's first step."""
    phone.goto(h5_url)
    expect(phone.get_by_text("办理主体")).to_be_visible()
    phone.get_by_role("link", name="支付宝登录").click()
    phone.get_by_role("button", name=f"以{name}登录").click()
    expect(phone.get_by_role("heading", name="请选择证书服务")).to_be_visible()


def claim_through_face(phone: Page, *, organisation_name: str | None) -> None:
    """「立即申领」, 「创建企业」 (when the service does not know the enterprise yet), the agreements, the face."""
    phone.get_by_role("button", name="立即申领").click()
    if organisation_name is not None:
        expect(phone.get_by_role("heading", name="创建企业")).to_be_visible()
        phone.get_by_label("组织名称").fill(organisation_name)
        phone.get_by_role("button", name="确定").click()
    phone.get_by_label("我已阅读并同意《e签盾服务协议》《隐私政策》").check()
    phone.get_by_role("button", name="确认").click()
    phone.get_by_role("button", name="开始人脸识别").click()
    phone.get_by_role("button", name="通过", exact=True).click()


def verify_enterprise_by_legal_rep_face(phone: Page) -> None:
    """「企业实名认证」 → 「选择认证方式」: 法定代表人认证 → 人脸认证, passed at the liveness sandbox (R3.6)."""
    expect(phone.get_by_role("heading", name="企业实名认证")).to_be_visible()
    phone.get_by_role("link", name="法定代表人认证").click()
    phone.get_by_role("button", name="人脸认证").click()
    phone.get_by_role("button", name="通过", exact=True).click()


def choose_corporate_transfer(phone: Page, method: str) -> None:
    """「企业实名认证」 → 「选择认证方式」: 对公打款认证 → ``method`` (正向打款 or 反向打款) (R3.6)."""
    expect(phone.get_by_role("heading", name="企业实名认证")).to_be_visible()
    phone.get_by_role("link", name="对公打款认证").click()
    phone.get_by_role("link", name=method).click()
    expect(phone.get_by_role("heading", name=method)).to_be_visible()


def set_pin_and_finish(phone: Page, screenshot: str) -> None:
    """「购买成功 · 购买成功后需要设置PIN码」 → 「设置PIN码」 (an employee the admin added goes straight to the
    form), the PIN twice → 「开通成功」."""
    purchased = phone.get_by_role("heading", name="购买成功")
    pin_form = phone.get_by_role("heading", name="设置 PIN 码")
    expect(purchased.or_(pin_form)).to_be_visible()
    if purchased.is_visible():
        phone.get_by_role("link", name="设置PIN码").click()
    expect(pin_form).to_be_visible()
    phone.get_by_label("PIN 码", exact=True).fill(PIN)
    phone.get_by_label("再次输入 PIN 码").fill(PIN)
    phone.get_by_role("button", name="确认").click()
    expect(phone.get_by_role("heading", name="开通成功")).to_be_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(ARTIFACTS / screenshot))


def expect_card_activated(page: Page, cert_id: str) -> Card:
    """The platform's claim page has followed by itself to 开通成功 and shows the service number."""
    expect(page.locator("#claim-progress")).to_have_text("开通成功")
    card = Card.objects.get(cert_id=cert_id)
    assert card.status == CardStatus.ACTIVE and card.service_no.startswith("ESD"), card
    expect(page.locator("#claim-result")).to_contain_text(card.service_no)
    return card


# --- the world before the browser opens ----------------------------------------------------------------------


def registered_enterprise(name: str) -> Enterprise:
    """A platform enterprise the registry knows, with 王建国 as its legal representative."""
    from mobileca.sandboxes.registry.models import RegisteredEnterprise

    enterprise: Enterprise = EnterpriseFactory.create(name=name)
    RegisteredEnterprise.objects.create(
        uscc=enterprise.uscc,
        name=enterprise.name,
        legal_representative=LEGAL_REP[1],
        legal_representative_id="360202197001010014",
        legal_representative_phone=LEGAL_REP[2],
    )
    return enterprise


def paid_cards(bidder: User, count: int) -> list[str]:
    """``count`` mobile CA cards bought by remittance and confirmed by finance; their cert ids, oldest first."""
    from mobileca.ca.services import ca_init
    from mobileca.payments.services import remittance_confirm
    from tests.support.platform import actor_of, make_offline_order

    ca_init()
    finance: User = FinanceFactory.create()
    for number in range(count):
        _, payment = make_offline_order(bidder, token=f"tok-{number}")
        remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    return list(Card.objects.order_by("pk").values_list("cert_id", flat=True))
