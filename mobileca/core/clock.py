"""The one clock. Services ask ``clock.now()``; tests move time with ``clock.frozen(...)``.

Only aware datetimes in UTC leave this module; display converts to Asia/Shanghai.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self) -> None:
        self._fixed: datetime | None = None
        self._lock = threading.Lock()

    def now(self) -> datetime:
        fixed = self._fixed
        return fixed if fixed is not None else datetime.now(UTC)

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("the clock only holds aware datetimes")
        with self._lock:
            self._fixed = when.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._fixed = (self._fixed or datetime.now(UTC)) + delta

    def reset(self) -> None:
        with self._lock:
            self._fixed = None

    @contextmanager
    def frozen(self, when: datetime) -> Iterator[Clock]:
        previous = self._fixed
        self.set(when)
        try:
            yield self
        finally:
            self._fixed = previous


clock = Clock()


def now() -> datetime:
    return clock.now()
