"""Reading what people and programs send: digits, amounts, dates, JSON and text, each to a bound.

Every reader here returns the value or raises ``BadInput`` (a ``ValueError``) with a short reason; the caller turns
that into its own refusal (a form error, an API error, a gateway's failure answer). Nothing here guesses:

* **Digits** (PINs, one-time codes, amounts typed on a phone): ASCII digits, and the full-width digits a Chinese
  input method types (``１２３``) read as ASCII; every other digit of Unicode (``٣``, ``³``, …) is refused, so a
  PIN is always six bytes that compare in constant time.
* **Amounts** in yuan: ``digits[.d[d]]`` with no sign, exponent, padding zero or blank, within a bound.
* **Dates**: between 1900 and 9999 − 1, so arithmetic on them (a day's end, a time zone) cannot overflow.
* **JSON**: at most ``MAX_JSON_DEPTH`` levels (checked before parsing, so a body nested 100,000 deep costs a scan,
  not a ``RecursionError``), no ``NaN``/``Infinity``, no number beyond ``±MAX_JSON_INT`` nor a float beyond the
  finite, no NUL in any string.
* **Text**: no NUL (PostgreSQL cannot store it; SQLite can, so the rule is here, for both).
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

MAX_JSON_DEPTH: Final = 32
MAX_JSON_INT: Final = 2**53  # every integer a JSON peer can carry exactly (RFC 8259 §6, I-JSON RFC 7493 §2.2)
EARLIEST: Final = date(1900, 1, 1)
LATEST: Final = date(9998, 12, 31)

_FULL_WIDTH: Final = str.maketrans("０１２３４５６７８９", "0123456789")
_ASCII_DIGITS: Final = re.compile(r"[0-9]*")
_AMOUNT: Final = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]{1,2})?")
_JSON_STRING: Final = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")


class BadInput(ValueError):
    """The value cannot be read as what it should be; ``str()`` says why, for the log and the API."""


def digits(value: object, *, length: int | None = None) -> str:
    """ASCII digits (full-width read as ASCII), optionally exactly ``length`` of them; surrounding blanks dropped."""
    if not isinstance(value, str):
        raise BadInput("not text")
    text = value.strip().translate(_FULL_WIDTH)
    if not text or _ASCII_DIGITS.fullmatch(text) is None:
        raise BadInput("not digits")
    if length is not None and len(text) != length:
        raise BadInput(f"not {length} digits")
    return text


def amount(value: object, *, maximum: Decimal = Decimal("99999999.99"), lenient: bool = False) -> Decimal:
    """An amount in yuan with at most two decimals, ``0 ≤ amount ≤ maximum``.

    Strict (a gateway's field, a statement's column): exactly ``digits[.d[d]]``. ``lenient`` (a person typing in a
    form) also drops surrounding blanks and reads full-width digits and the full-width point."""
    if not isinstance(value, str):
        raise BadInput("not text")
    text = value.strip().translate(_FULL_WIDTH).replace("．", ".") if lenient else value
    if len(text) > 20 or _AMOUNT.fullmatch(text) is None:
        raise BadInput("not an amount")
    parsed = Decimal(text)
    if parsed > maximum:
        raise BadInput("amount out of range")
    return parsed


def in_date_range(value: date | datetime) -> bool:
    day = value.date() if isinstance(value, datetime) else value
    return EARLIEST <= day <= LATEST


def text(value: object, *, max_length: int | None = None) -> str:
    """Text with no NUL, at most ``max_length`` characters."""
    if not isinstance(value, str):
        raise BadInput("not text")
    if "\x00" in value:
        raise BadInput("NUL character")
    if max_length is not None and len(value) > max_length:
        raise BadInput(f"longer than {max_length} characters")
    return value


def json_depth_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text nests arrays and objects deeper than ``limit``; strings are skipped, so brackets inside
    them do not count. Linear in the body; never recursive."""
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    if len(brackets) <= limit:
        return False
    depth = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _finite(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):
        raise BadInput("number out of range")
    return number


def _bounded_int(literal: str) -> int:
    if len(literal.lstrip("-")) > 16:
        raise BadInput("number out of range")
    number = int(literal)
    if abs(number) > MAX_JSON_INT:
        raise BadInput("number out of range")
    return number


def _no_constants(name: str) -> Any:
    raise BadInput(f"{name} is not a number JSON allows")


def _no_nul(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    for key, value in pairs:
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            raise BadInput("NUL character")
    return dict(pairs)


def load_json(raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON within the bounds above; ``BadInput`` otherwise (also for text that is not JSON or not UTF-8)."""
    data = raw.encode() if isinstance(raw, str) else raw
    if json_depth_exceeds(data, max_depth):
        raise BadInput(f"nested deeper than {max_depth}")
    try:
        parsed = json.loads(
            data,
            parse_float=_finite,
            parse_int=_bounded_int,
            parse_constant=_no_constants,
            object_pairs_hook=_no_nul,
        )
    except BadInput:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise BadInput("not JSON") from exc
    if isinstance(parsed, str) and "\x00" in parsed:
        raise BadInput("NUL character")
    _no_nul_in_arrays(parsed)
    return parsed


def _no_nul_in_arrays(value: Any) -> None:
    """Strings directly inside arrays (object members were checked as they were built)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            for element in item:
                if isinstance(element, str) and "\x00" in element:
                    raise BadInput("NUL character")
                stack.append(element)
        elif isinstance(item, dict):
            stack.extend(item.values())
