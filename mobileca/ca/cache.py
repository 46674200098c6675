"""The OCSP responses' cache when no Redis is configured: Django's file cache, shared by every process of the
host, with two changes:

* no culling (Django's lists the whole folder on every write): entries expire with their response's
  ``nextUpdate`` and are rewritten by the periodic job, so their number stays two per unexpired certificate;
* a per-process memo of what was read, checked against the file's identity on each read (one ``stat``): every write
  replaces the file (a new inode) and a delete removes it, so a response changed by any process is read again at
  once and never served stale, while an unchanged one costs no open, read or unpickling.
"""

from __future__ import annotations

import os
import time
from typing import Any

from django.core.cache.backends.filebased import FileBasedCache

_MEMO_LIMIT = 100_000


class SharedFileCache(FileBasedCache):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._memo: dict[str, tuple[tuple[int, int], float, Any]] = {}

    def _cull(self) -> None:
        return None

    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        name: str = self._key_to_file(key, version)  # type: ignore[attr-defined]
        try:
            status = os.stat(name)
        except FileNotFoundError:
            self._memo.pop(name, None)
            return default
        identity = (status.st_ino, status.st_mtime_ns)
        memo = self._memo.get(name)
        if memo is not None and memo[0] == identity and (memo[1] == 0 or memo[1] > time.time()):
            return memo[2]
        value = super().get(key, default, version)
        if value is not default:
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[name] = (identity, self._expiry(name), value)
        return value

    @staticmethod
    def _expiry(name: str) -> float:
        import pickle

        try:
            with open(name, "rb") as handle:
                expiry: float | None = pickle.load(handle)  # noqa: S301 (our own cache file: its first pickle)
        except (OSError, EOFError, pickle.UnpicklingError):
            return time.time()  # unreadable: read again next time
        return expiry or 0
