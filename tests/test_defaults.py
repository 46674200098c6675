"""Defaults and storage (issue 14): owner-only files under var/, settings that cannot work refused at start-up,
secure cookies and HSTS over HTTPS, session lifetimes by area, the API-docs setting, and the sandboxes' warning and
their refusal in production."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from config.storage import tighten
from mobileca.accounts.models import User
from mobileca.core.uploads import private_storage
from mobileca.payments.online import GATEWAY_MARGIN

ROOT = Path(__file__).resolve().parents[1]


def settings_in_subprocess(tmp_path: Path, code: str, **environ: str) -> subprocess.CompletedProcess[str]:
    """Import config.settings in a fresh interpreter with only the given MOBILECA_*/DJANGO_* variables."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MOBILECA_", "DJANGO_", "DATABASE_URL", "HUEY_", "SANDBOX_", "AXES_"))
    }
    env.update({"MOBILECA_VAR_DIR": str(tmp_path / "var"), **environ})
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", "import json, config.settings as s\n" + code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


# --- owner-only storage -----------------------------------------------------------------------------------------


def test_a_start_tightens_an_existing_var_tree_and_creates_new_files_owner_only(tmp_path: Path) -> None:
    """issue 14: files under var/ were created 0644 in 0755 folders. An existing tree is tightened at start
    (`manage.py tighten_var`, the first step of `make run`), and
    whatever the process creates afterwards (SQLite, the queue, uploads) is born 0600/0700 by the umask."""
    var = tmp_path / "var"
    (var / "private" / "vouchers" / "2026").mkdir(parents=True)
    (var / "keys").mkdir()
    loose = [var / "mobileca.sqlite3", var / "private" / "vouchers" / "2026" / "v.pdf", var / "keys" / "k.pem"]
    for path in loose:
        path.write_bytes(b"x")
        path.chmod(0o644)
    for folder in (var, var / "private", var / "private" / "vouchers", var / "private" / "vouchers" / "2026"):
        folder.chmod(0o755)
    outside = tmp_path / "not-ours.txt"
    outside.write_text("x")
    outside.chmod(0o644)
    (var / "link").symlink_to(outside)

    result = settings_in_subprocess(
        tmp_path,
        "import os, pathlib, django\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'\n"
        "django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('tighten_var')  # what make run does first\n"
        "pathlib.Path(s.VAR_DIR, 'huey.sqlite3').write_text('q')\n"
        "pathlib.Path(s.VAR_DIR, 'private', 'new').mkdir()\n"
        "print(json.dumps({'umask': os.umask(0o077), 'files': s.FILE_UPLOAD_PERMISSIONS,"
        " 'dirs': s.FILE_UPLOAD_DIRECTORY_PERMISSIONS}))",
    )
    assert result.returncode == 0, result.stderr
    reported = json.loads(result.stdout.strip().splitlines()[-1])
    assert reported == {"umask": 0o077, "files": 0o600, "dirs": 0o700}
    for path in [*loose, var / "secret_key", var / "huey.sqlite3"]:
        assert mode(path) == 0o600, path
    for folder in (var, var / "private", var / "private" / "vouchers", var / "keys", var / "private" / "new"):
        assert mode(folder) == 0o700, folder
    assert mode(outside) == 0o644  # a link is not followed out of the tree


def test_tighten_keeps_the_owner_execute_bit_and_leaves_links_alone(tmp_path: Path) -> None:
    script = tmp_path / "tool.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o755)
    target.chmod(0o755)
    root = tmp_path / "root"
    root.mkdir()
    (root / "to-elsewhere").symlink_to(target)
    tighten([tmp_path / "tool.sh", root, tmp_path / "missing"])
    assert mode(script) == 0o700
    assert mode(target) == 0o755


@pytest.mark.django_db
def test_private_uploads_are_owner_only_in_owner_only_folders(settings, tmp_path: Path) -> None:
    """Vouchers and licences go through the private storage: 0600 files in 0700 folders, whatever the umask."""
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    previous = os.umask(0o022)  # even a process started some other way
    try:
        name = private_storage().save("vouchers/2026/12/v.pdf", ContentFile(b"%PDF-1.4"))
    finally:
        os.umask(previous)
    stored = Path(settings.PRIVATE_MEDIA_ROOT) / name
    assert mode(stored) == 0o600
    assert mode(stored.parent) == 0o700 and mode(stored.parent.parent) == 0o700


def test_this_process_runs_with_the_owner_only_umask() -> None:
    current = os.umask(0o077)
    os.umask(current)
    assert current == 0o077


# --- settings validated at start-up -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MOBILECA_ONLINE_ORDER_TTL_MINUTES", "2"),  # the reproducer: the gateway's expiry would be in the past
        ("MOBILECA_ONLINE_ORDER_TTL_MINUTES", "10"),
        ("MOBILECA_ONLINE_ORDER_TTL_MINUTES", "100000"),
        ("MOBILECA_OFFLINE_ORDER_TTL_HOURS", "0"),
        ("MOBILECA_VOUCHER_MAX_BYTES", "-1"),
        ("MOBILECA_CLAIM_QR_MINUTES", "0"),
        ("HUEY_WORKERS", "0"),
        ("SANDBOX_TIME_SCALE", "0"),
        ("SANDBOX_TIME_SCALE", "NaN"),
        ("MOBILECA_LOGIN_FAILURE_LIMIT", "0"),
        ("MOBILECA_LOGIN_LOCKOUT_MINUTES", "0"),
        ("MOBILECA_PHONE_SESSION_MINUTES", "0"),
        ("MOBILECA_BACKOFFICE_SESSION_MINUTES", "100000"),
        ("MOBILECA_SESSION_HOURS", "1000"),
        ("MOBILECA_HSTS_SECONDS", "-5"),
    ],
)
def test_settings_that_cannot_work_refuse_to_start_naming_the_variable(
    tmp_path: Path, variable: str, value: str
) -> None:
    """issue 14: MOBILECA_ONLINE_ORDER_TTL_MINUTES=2 sent the gateway a time_expire already in the past."""
    result = settings_in_subprocess(tmp_path, "print('started')", **{variable: value})
    assert result.returncode != 0
    assert "ConfigurationError" in result.stderr and variable in result.stderr
    assert "started" not in result.stdout


def test_the_shortest_online_order_still_gives_the_gateway_a_usable_qr_code(tmp_path: Path) -> None:
    """The lower bound is tied to the channel's margin: at the minimum the gateway's QR code lives 5 minutes."""
    result = settings_in_subprocess(
        tmp_path, "print(s.MOBILECA_ONLINE_ORDER_TTL_MINUTES)", MOBILECA_ONLINE_ORDER_TTL_MINUTES="15"
    )
    assert result.returncode == 0, result.stderr
    assert timedelta(minutes=int(result.stdout.split()[-1])) - GATEWAY_MARGIN >= timedelta(minutes=5)


# --- HTTPS, sessions, API docs ----------------------------------------------------------------------------------

REPORT = (
    "print(json.dumps({'session': s.SESSION_COOKIE_SECURE, 'csrf': s.CSRF_COOKIE_SECURE, 'hsts': s.SECURE_HSTS_SECONDS,"
    " 'proxy': list(getattr(s, 'SECURE_PROXY_SSL_HEADER', None) or []), 'docs': s.MOBILECA_API_DOCS,"
    " 'demo': s.MOBILECA_DEMO, 'hosts': s.ALLOWED_HOSTS}))"
)


def report(tmp_path: Path, **environ: str) -> dict[str, object]:
    result = settings_in_subprocess(tmp_path, REPORT, **environ)
    assert result.returncode == 0, result.stderr
    parsed: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def test_served_over_https_the_cookies_are_secure_with_hsts_and_the_proxy_header(tmp_path: Path) -> None:
    over_https = report(
        tmp_path, MOBILECA_PUBLIC_URL="https://ca.example.cn", MOBILECA_PROXY_SSL_HEADER="X-Forwarded-Proto"
    )
    assert over_https["session"] is True and over_https["csrf"] is True
    assert over_https["hsts"] == 365 * 24 * 3600
    assert over_https["proxy"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert "ca.example.cn" in over_https["hosts"]  # type: ignore[operator]

    embedded = report(tmp_path)
    assert embedded["session"] is False and embedded["hsts"] == 0 and embedded["proxy"] == []


def test_api_docs_follow_demo_mode_unless_set(tmp_path: Path) -> None:
    assert report(tmp_path)["docs"] is True  # the embedded default is a demo
    assert report(tmp_path, MOBILECA_DEMO="0")["docs"] is False
    assert report(tmp_path, MOBILECA_DEMO="0", MOBILECA_API_DOCS="1")["docs"] is True
    assert report(tmp_path, MOBILECA_API_DOCS="0")["docs"] is False


@pytest.mark.django_db
def test_bidders_keep_a_working_day_session(client: Client, bidder: User, settings) -> None:
    client.force_login(bidder)
    assert client.get(reverse("accounts:workbench")).status_code == 200
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE == 10 * 3600


@pytest.mark.django_db
def test_the_back_office_session_is_short(client: Client, finance: User, settings) -> None:
    client.force_login(finance)
    response = client.get(reverse("backoffice:home"))
    assert response.status_code == 200
    assert client.session.get_expiry_age() == settings.MOBILECA_BACKOFFICE_SESSION_MINUTES * 60 == 30 * 60
    stored = Session.objects.get(session_key=client.session.session_key)
    assert stored.expire_date <= timezone.now() + timedelta(minutes=30)  # the row expires, not just the cookie


@pytest.mark.django_db
def test_the_phone_pages_session_is_short(client: Client, bidder: User, settings) -> None:
    """A session on the phone pages (here a desktop login that visits /h5/) gets the phone lifetime."""
    client.force_login(bidder)
    client.get("/h5/login/")
    assert client.session.get_expiry_age() == settings.MOBILECA_PHONE_SESSION_MINUTES * 60 == 15 * 60
    client.get(reverse("accounts:workbench"))
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE


@pytest.mark.django_db
def test_the_short_lifetime_slides_while_the_pages_are_used(client: Client, monkeypatch) -> None:
    """Pushed forward at most every sixth of the lifetime (not a write per request), so it ends only when idle."""
    from mobileca.core import sessions

    session = client.session
    session["claim_in_progress"] = "x"  # a session that holds something, as a phone sitting does
    session.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    start = 1_800_000_000
    monkeypatch.setattr(sessions.time, "time", lambda: start)
    client.get("/h5/members/")
    assert client.session[sessions.TOUCHED_KEY] == start
    monkeypatch.setattr(sessions.time, "time", lambda: start + 60)
    client.get("/h5/members/")  # not yet a sixth of the lifetime later: nothing written
    assert client.session[sessions.TOUCHED_KEY] == start
    monkeypatch.setattr(sessions.time, "time", lambda: start + 60 + 15 * 60 // 6)
    client.get("/h5/members/")
    assert client.session[sessions.TOUCHED_KEY] == start + 60 + 15 * 60 // 6
    assert client.session.get_expiry_age() == 15 * 60


@pytest.mark.django_db
def test_an_anonymous_page_creates_no_session_for_the_lifetime(client: Client) -> None:
    before = Session.objects.count()
    client.get(reverse("accounts:login"))
    assert Session.objects.count() == before


# --- sandboxes ----------------------------------------------------------------------------------------------------

BANNER_ZH = "任何人都可以查看任意手机号的短信收件箱、通过任意人的人脸核验"
BANNER_EN = "anyone can read any SMS inbox, pass any face check"


def test_every_sandbox_page_template_carries_the_open_by_design_banner() -> None:
    templates = sorted((ROOT / "mobileca" / "sandboxes").glob("*/templates/**/*.html"))
    assert len(templates) >= 7
    for template in templates:
        assert '{% include "sandboxes/banner.html" %}' in template.read_text(), template


@pytest.mark.django_db
def test_a_sandbox_page_shows_the_warning_in_chinese_and_english(client: Client) -> None:
    page = client.get("/sandbox/sms/inbox/13900000000/").content.decode()
    assert BANNER_ZH in page and BANNER_EN in page and "切勿用于生产环境" in page


def test_a_production_start_refuses_the_sandboxes(tmp_path: Path) -> None:
    """A deployment (DATABASE_URL, demo off by default) whose gateways still point at the sandboxes refuses to start;
    the sandboxes are not mounted without demo mode."""
    result = settings_in_subprocess(
        tmp_path,
        "import django; django.setup()",
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "points at a sandbox" in result.stderr

    mounted = settings_in_subprocess(
        tmp_path,
        "print('sandboxes' in s.INSTALLED_APPS, any(a.startswith('mobileca.sandboxes') for a in s.INSTALLED_APPS))",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    assert mounted.returncode == 0, mounted.stderr
    assert mounted.stdout.split() == ["False", "False"]
