"""The command-line tool in tests: run in this process against the Django test server, logged in with a token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.transport import DjangoTestTransport


def tool_in_process(monkeypatch: pytest.MonkeyPatch, config_dir: Path, token: str) -> None:
    """Point ``mobileca``'s HTTP client at the test server and save ``token`` as its login (config in config_dir)."""
    from mobileca.cli import main as cli

    transport = DjangoTestTransport()
    real_init = cli.Api.__init__

    def in_process(self: Any, server: str, token: str = "") -> None:
        real_init(self, server, token)
        self.http = httpx.Client(transport=transport, headers=self.http.headers)

    monkeypatch.setattr(cli.Api, "__init__", in_process)
    monkeypatch.setenv("MOBILECA_CONFIG_DIR", str(config_dir))
    cli._save_token("http://testserver", {"access_token": token, "expires_at": 4102444800})
