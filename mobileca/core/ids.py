"""Identifiers people read: 证书ID, order numbers, remittance memo codes.

* 证书ID (R2.2): 17 digits, ``yyyyMMddHHmmssSSS`` of the card's creation in Beijing time. Two cards created in the
  same millisecond cannot share one, so the allocator hands out strictly increasing milliseconds within a process
  and the database's unique constraint settles races between processes (the caller retries with the next one).
* Order numbers double as the gateways' ``out_trade_no``: 22 characters of ``[0-9A-Z]``.
* Memo codes are typed by people into a bank form: no 0/O/1/I/L, and a check character that catches any single
  mistyped character.
"""

from __future__ import annotations

import secrets
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")
_ORDER_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MEMO_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # 31 symbols: a prime, so a weighted sum catches one typo
MEMO_PREFIX = "MC"
MEMO_LENGTH = len(MEMO_PREFIX) + 8


def cert_id_for(moment: datetime) -> str:
    local = moment.astimezone(BEIJING)
    return local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"


class CertIdAllocator:
    """Strictly increasing millisecond stamps within one process."""

    def __init__(self) -> None:
        self._last: datetime | None = None
        self._lock = threading.Lock()

    def next(self, moment: datetime) -> str:
        candidate = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        with self._lock:
            if self._last is not None and candidate <= self._last:
                candidate = self._last + timedelta(milliseconds=1)
            self._last = candidate
        return cert_id_for(candidate)

    def after(self, cert_id: str) -> str:
        """The next id after one the database already holds (another process took it)."""
        taken = datetime.strptime(cert_id, "%Y%m%d%H%M%S%f").replace(tzinfo=BEIJING)
        return self.next(taken + timedelta(milliseconds=1))


cert_ids = CertIdAllocator()


def new_order_no(moment: datetime) -> str:
    stamp = moment.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")
    return stamp + "".join(secrets.choice(_ORDER_ALPHABET) for _ in range(8))


def _memo_check(body: str) -> str:
    total = sum((index + 1) * MEMO_ALPHABET.index(char) for index, char in enumerate(body))
    return MEMO_ALPHABET[total % len(MEMO_ALPHABET)]


def new_memo_code() -> str:
    body = "".join(secrets.choice(MEMO_ALPHABET) for _ in range(MEMO_LENGTH - len(MEMO_PREFIX) - 1))
    return MEMO_PREFIX + body + _memo_check(body)


def is_valid_memo_code(code: str) -> bool:
    if len(code) != MEMO_LENGTH or not code.startswith(MEMO_PREFIX):
        return False
    body, check = code[len(MEMO_PREFIX) : -1], code[-1]
    return all(char in MEMO_ALPHABET for char in body) and _memo_check(body) == check
