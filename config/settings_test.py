"""Test settings: the production settings with jobs run inline, a fast password hasher, throw-away demo keys, and
the gateways pointed at the sandboxes of the test server (reached in-process, see tests/transport.py)."""

import os
import tempfile
from pathlib import Path

from config.settings import *  # noqa: F403
from config.settings import DATABASES, HUEY, INSTALLED_APPS, MOBILECA_CA, SANDBOX_APPS, STORAGES, gateway_globals
from mobileca.sandboxes.keys import ensure_keys

HUEY = {**HUEY, "immediate": True}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A test database file, not memory: the live server's threads then each have their own connection (as on
    # PostgreSQL) instead of sharing one, so two requests at once are two transactions.
    DATABASES["default"]["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"mobileca-test-{os.getpid()}.sqlite3")}
MOBILECA_DEMO = True
INSTALLED_APPS = [*INSTALLED_APPS, *(app for app in SANDBOX_APPS if app not in INSTALLED_APPS)]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; never in production

MOBILECA_PUBLIC_URL = "http://testserver"
MOBILECA_KEYS_DIR = ensure_keys(Path(tempfile.gettempdir()) / "mobileca-test-keys")
globals().update(gateway_globals(MOBILECA_PUBLIC_URL, MOBILECA_KEYS_DIR))  # every MOBILECA_*/SANDBOX_* gateway

MOBILECA_CA = {
    **MOBILECA_CA,
    "key_dir": Path(tempfile.mkdtemp(prefix="mobileca-test-ca-")),
    "passphrase": "test passphrase 1234",
}

# Static files from the apps' folders (no collectstatic before a test run): WhiteNoise looks them up through the
# finders, and {% static %} needs no manifest.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
STATIC_ROOT = None  # type: ignore[assignment]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
