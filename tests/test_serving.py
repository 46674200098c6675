"""How the embedded default serves (issue 14): gunicorn with WhiteNoise and debug off, Chinese error pages that
render without debug, and a Content-Security-Policy with a per-request nonce and nothing inline besides."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.test import Client, RequestFactory
from django.urls import reverse
from django.views import defaults

from mobileca.accounts.models import User

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted(ROOT.glob("mobileca/**/templates/**/*.html"))


# --- Content-Security-Policy --------------------------------------------------------------------------------------


def policy(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.django_db
def test_a_page_with_an_inline_script_carries_the_requests_nonce(client: Client, bidder: User) -> None:
    """issue 14: scripts only from our origin or with this response's nonce; never framed; nothing else inline."""
    client.force_login(bidder)
    response = client.get(reverse("orders:checkout", args=["mobile-ca"]))
    assert response.status_code == 200
    directives = policy(response)
    nonces = [value for value in directives["script-src"] if value.startswith("'nonce-")]
    assert len(nonces) == 1
    nonce = nonces[0].removeprefix("'nonce-").removesuffix("'")
    assert directives["default-src"] == ["'self'"]
    assert set(directives["script-src"]) == {"'self'", f"'nonce-{nonce}'"}
    assert set(directives["style-src"]) == {"'self'", f"'nonce-{nonce}'"}  # no 'unsafe-inline'
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"] and directives["base-uri"] == ["'none'"]
    page = response.content.decode()
    scripts = re.findall(r"<script\b[^>]*>", page)
    inline = [tag for tag in scripts if "src=" not in tag]
    assert inline and all(f'nonce="{nonce}"' in tag for tag in inline)

    again = client.get(reverse("orders:checkout", args=["mobile-ca"]))
    assert nonce not in again["Content-Security-Policy"]  # one per response


@pytest.mark.django_db
def test_a_style_block_carries_the_nonce(client: Client) -> None:
    response = client.get("/sandbox/sms/inbox/13900000000/")
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])
    assert nonce is not None
    assert f'<style nonce="{nonce.group(1)}">' in response.content.decode()
    assert "<style>" not in response.content.decode()


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_template_has_inline_handlers_javascript_urls_style_attributes_or_unnonced_blocks(template: Path) -> None:
    """What the policy would block: on…= handlers, javascript: URLs (the error page had javascript:history.back()),
    style attributes, and <script>/<style> blocks without the nonce."""
    text = template.read_text()
    assert not re.search(r"\son[a-z]+\s*=", text, re.IGNORECASE)
    assert "javascript:" not in text.lower()
    assert not re.search(r"\sstyle\s*=", text, re.IGNORECASE)
    for tag in re.findall(r"<(?:script|style)\b[^>]*>", text):
        assert "src=" in tag or 'nonce="{{ CSP_NONCE }}"' in tag, tag


# --- error pages with debug off -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("handler", "status", "title"),
    [
        (lambda request: defaults.bad_request(request, Exception()), 400, "请求无效"),
        (lambda request: defaults.permission_denied(request, Exception()), 403, "无权访问"),
        (lambda request: defaults.server_error(request), 500, "系统繁忙，请稍后重试"),
    ],
)
def test_error_pages_render_in_chinese_without_context_processors(handler, status: int, title: str) -> None:  # type: ignore[no-untyped-def]
    """Django's own handlers render 400/403/500.html with no request context (500 must need nothing at all)."""
    response = handler(RequestFactory().get("/"))
    assert response.status_code == status
    page = response.content.decode()
    assert f"<h1>{title}</h1>" in page and "返回首页" in page


@pytest.mark.django_db
def test_not_found_and_csrf_failure_answer_in_chinese(client: Client, settings) -> None:
    settings.DEBUG = False
    assert "页面不存在" in client.get("/no-such-page/").content.decode()
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("accounts:login"), {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert "页面已过期" in response.content.decode()


# --- gunicorn as `make run` starts it ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_gunicorn_serves_pages_and_static_files_with_debug_off(tmp_path: Path) -> None:
    """scripts/run.sh's server: collectstatic into var/static, gunicorn gthread workers, WhiteNoise for /static/."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MOBILECA_", "DJANGO_", "DATABASE_URL", "HUEY_"))
    }
    port = free_port()
    env.update(
        {
            "MOBILECA_VAR_DIR": str(tmp_path / "var"),
            "MOBILECA_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "DJANGO_DEBUG": "0",
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
    )
    python = sys.executable
    subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [python, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    server = subprocess.Popen(  # noqa: S603 - our own interpreter
        [
            python,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--worker-class",
            "gthread",
            "--workers",
            "1",
            "--threads",
            "4",
            "--no-control-socket",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx.get(f"{base}/accounts/login/", timeout=5)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
                assert time.monotonic() < deadline, "gunicorn did not answer"
                time.sleep(0.3)
        assert page.status_code == 200
        assert page.headers["server"] == "gunicorn"
        assert "Content-Security-Policy" in page.headers
        css = re.search(r'href="(/static/mobileca/site\.[0-9a-f]{12}\.css)"', page.text)
        assert css is not None, "the manifest's hashed name"
        static = httpx.get(base + css.group(1), timeout=5)
        assert static.status_code == 200 and "text/css" in static.headers["content-type"]
        assert "immutable" in static.headers["cache-control"]
        missing = httpx.get(f"{base}/no-such-page/", timeout=5)
        assert missing.status_code == 404 and "页面不存在" in missing.text and "Traceback" not in missing.text
        assert (tmp_path / "var" / "static").stat().st_mode & 0o077 == 0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.mark.django_db
def test_the_api_docs_load_their_scripts_from_our_origin(client: Client, settings) -> None:
    """Swagger UI from our static files ("ninja" installed), not from a CDN the policy would block."""
    settings.MOBILECA_API_DOCS = True
    response = client.get("/csc/v2/docs")
    assert response.status_code == 200
    sources = re.findall(r'<(?:script|link)\b[^>]*(?:src|href)="([^"]+)"', response.content.decode())
    assert sources and all(source.startswith("/static/") for source in sources)
