"""The one place that reads the process environment.

Every setting that differs between a developer's laptop, CI and production comes from an environment variable
read here; nothing else in the project touches ``os.environ``. Each getter names its variable, parses it, and
fails loudly on a malformed value rather than guessing.
"""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

import dj_database_url

N = TypeVar("N", int, Decimal)


class ConfigurationError(RuntimeError):
    """A variable is set but cannot be understood."""


def bounded(name: str, value: N, minimum: N | None, maximum: N | None) -> N:
    """``value`` if within the bounds, else a ConfigurationError naming the variable and the allowed range."""
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        low = "" if minimum is None else f" at least {minimum}"
        high = "" if maximum is None else f" at most {maximum}"
        joined = " and".join(part for part in (low, high) if part)
        raise ConfigurationError(f"{name}={value} is out of range: it must be{joined}")
    return value


class Env:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self._environ = environ if environ is not None else dict(os.environ)

    def string(self, name: str, default: str) -> str:
        return self._environ.get(name, default)

    def optional_str(self, name: str) -> str | None:
        value = self._environ.get(name)
        return value if value else None

    def boolean(self, name: str, default: bool) -> bool:
        raw = self._environ.get(name)
        if raw is None or raw == "":
            return default
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigurationError(f"{name}={raw!r} is not a boolean (use 1/0, true/false)")

    def integer(self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
        """An integer; with ``minimum``/``maximum``, a value outside the bounds (the default included) refuses to
        start, naming the variable: a setting that cannot work is an error, not a surprise at run time."""
        raw = self._environ.get(name)
        if raw is None or raw == "":
            value = default
        else:
            try:
                value = int(raw.strip())
            except ValueError as exc:
                raise ConfigurationError(f"{name}={raw!r} is not an integer") from exc
        return bounded(name, value, minimum, maximum)

    def decimal(
        self, name: str, default: str, *, minimum: Decimal | None = None, maximum: Decimal | None = None
    ) -> Decimal:
        raw = self._environ.get(name) or default
        try:
            value = Decimal(raw)
        except InvalidOperation as exc:
            raise ConfigurationError(f"{name}={raw!r} is not a decimal number") from exc
        if not value.is_finite():
            raise ConfigurationError(f"{name}={raw!r} is not a finite number")
        return bounded(name, value, minimum, maximum)

    def strings(self, name: str, default: list[str]) -> list[str]:
        raw = self._environ.get(name)
        if raw is None or raw.strip() == "":
            return default
        return [item.strip() for item in raw.split(",") if item.strip()]

    def path(self, name: str, default: Path) -> Path:
        raw = self._environ.get(name)
        return Path(raw).resolve() if raw else default

    def database(self, name: str, default_sqlite: Path) -> dict[str, Any]:
        """``DATABASE_URL`` (``postgres://user@host:5432/db``) or the embedded SQLite file."""
        raw = self._environ.get(name)
        if raw:
            config: dict[str, Any] = dict(dj_database_url.parse(raw, conn_max_age=60, conn_health_checks=True))
            return config
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(default_sqlite),
            # WAL lets the web server and the job worker read while the other writes.
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"},
        }
