"""Test settings: the production settings with jobs run inline, a fast password hasher, throw-away demo keys, and
the gateways pointed at the sandboxes of the test server (reached in-process, see tests/transport.py)."""

import tempfile
from pathlib import Path

from config.settings import *  # noqa: F403
from config.settings import HUEY, INSTALLED_APPS, MOBILECA_CA, SANDBOX_APPS, gateway_settings
from mobileca.sandboxes.keys import ensure_keys

HUEY = {**HUEY, "immediate": True}
MOBILECA_DEMO = True
INSTALLED_APPS = [*INSTALLED_APPS, *(app for app in SANDBOX_APPS if app not in INSTALLED_APPS)]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; never in production

MOBILECA_PUBLIC_URL = "http://testserver"
MOBILECA_KEYS_DIR = ensure_keys(Path(tempfile.gettempdir()) / "mobileca-test-keys")
_gateways = gateway_settings(MOBILECA_PUBLIC_URL, MOBILECA_KEYS_DIR)
MOBILECA_ALIPAY = _gateways["alipay"]
MOBILECA_WECHATPAY = _gateways["wechatpay"]
SANDBOX_ALIPAY = _gateways["sandbox_alipay"]
SANDBOX_WECHATPAY = _gateways["sandbox_wechatpay"]
MOBILECA_IDENTITY = _gateways["identity"]
SANDBOX_IDENTITY = _gateways["sandbox_identity"]
MOBILECA_REGISTRY = _gateways["registry"]
SANDBOX_REGISTRY = _gateways["sandbox_registry"]
MOBILECA_LIVENESS = _gateways["liveness"]
SANDBOX_LIVENESS = _gateways["sandbox_liveness"]
MOBILECA_SMS = _gateways["sms"]
SANDBOX_SMS = _gateways["sandbox_sms"]
MOBILECA_BANK = _gateways["bank"]
SANDBOX_BANK = _gateways["sandbox_bank"]

MOBILECA_CA = {
    **MOBILECA_CA,
    "key_dir": Path(tempfile.mkdtemp(prefix="mobileca-test-ca-")),
    "passphrase": "test passphrase 1234",
}
