"""Check-character validators for Chinese identity numbers.

This module implements pure-Python, dependency-free validation of two
identifiers that the certificate authority handles:

* **Unified Social Credit Code** (统一社会信用代码, USCC), GB 32100-2015.
  An 18-character code issued to legal entities (requirement R3.3)::

      position  1      registration-authority code   (alphabet char)
      position  2      entity-type code               (alphabet char)
      positions 3-8    administrative division code   (6 digits)
      positions 9-17   organisation code, GB 11714    (8 chars + check char)
      position  18     check character                (alphabet char)

  The 31-character alphabet excludes the letters I, O, Z, S and V. The
  18th character is an ISO 7064-style MOD 31 check over the first 17
  characters with weights ``3**(i-1) mod 31``. The embedded GB 11714
  organisation code carries its own MOD 11 check character (positions
  9-17), which is enforced too. The meaning of positions 1 and 2 and
  whether the division code actually exists are *not* checked.

* **Resident identity card number** (居民身份证号码), GB 11643-1999.
  An 18-character number: a 6-digit address code, an 8-digit birth date
  ``YYYYMMDD``, a 3-digit sequence code and an ISO 7064 MOD 11-2 check
  character (a digit or ``X``). The birth date must be a real calendar
  date between 1900-01-01 and today (inclusive). The address code is
  not checked against the list of divisions.

The ``is_valid_*`` predicates are strict: they accept only the canonical
(upper-case, no surrounding whitespace) form. Use the ``normalize_*``
helpers on user input first. The ``validate_*`` functions wrap the
predicates for use as Django field/form validators and raise
:class:`django.core.exceptions.ValidationError`. The ``make_*`` helpers
append the correct check character to a 17-character prefix, which is
handy for demo data and tests.
"""

from __future__ import annotations

from datetime import date
from typing import Final

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from mobileca.core.clock import now

__all__ = [
    "ORG_CODE_WEIGHTS",
    "RESIDENT_ID_CHECK_CHARS",
    "RESIDENT_ID_MIN_BIRTH_DATE",
    "RESIDENT_ID_WEIGHTS",
    "USCC_ALPHABET",
    "USCC_WEIGHTS",
    "is_valid_org_code",
    "is_valid_resident_id",
    "is_valid_uscc",
    "make_resident_id",
    "make_uscc",
    "normalize_resident_id",
    "normalize_uscc",
    "org_code_check_char",
    "resident_id_birth_date",
    "resident_id_check_char",
    "uscc_check_char",
    "validate_resident_id",
    "validate_uscc",
]

# --------------------------------------------------------------------------
# Unified Social Credit Code (GB 32100-2015)
# --------------------------------------------------------------------------

#: The 31 characters allowed in a USCC; the index of a character is its value.
USCC_ALPHABET: Final[str] = "0123456789ABCDEFGHJKLMNPQRTUWXY"

#: Weights for positions 1..17: ``3**(i-1) mod 31``.
USCC_WEIGHTS: Final[tuple[int, ...]] = tuple(pow(3, i, 31) for i in range(17))

#: Weights for the first 8 characters of a GB 11714 organisation code.
ORG_CODE_WEIGHTS: Final[tuple[int, ...]] = (3, 7, 9, 10, 5, 8, 4, 2)

_USCC_VALUES: Final[dict[str, int]] = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
_DIGITS: Final[frozenset[str]] = frozenset("0123456789")
_ORG_CODE_BODY_CHARS: Final[frozenset[str]] = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ORG_CODE_CHECK_CHARS: Final[frozenset[str]] = frozenset("0123456789X")


def _is_digits(value: str) -> bool:
    """Return True if *value* is non-empty and consists of ASCII digits only.

    ``str.isdigit`` is deliberately avoided: it accepts non-ASCII digits
    such as ``"²"`` or full-width ``"１"``.
    """
    return bool(value) and all(ch in _DIGITS for ch in value)


def uscc_check_char(first17: str) -> str:
    """Return the GB 32100-2015 check character for a 17-character prefix.

    ``c = 31 - (sum(value * weight) mod 31)``, with 31 mapped to 0; the
    result is ``USCC_ALPHABET[c]``.

    Raises:
        ValueError: if *first17* is not 17 characters from the alphabet.
    """
    if len(first17) != 17 or any(ch not in _USCC_VALUES for ch in first17):
        raise ValueError("USCC prefix must be 17 characters from USCC_ALPHABET")
    total = sum(_USCC_VALUES[ch] * w for ch, w in zip(first17, USCC_WEIGHTS, strict=True))
    c = 31 - total % 31
    if c == 31:
        c = 0
    return USCC_ALPHABET[c]


def _org_code_char_value(ch: str) -> int:
    """Value of an organisation-code character: digits 0-9, A=10 .. Z=35."""
    if ch in _DIGITS:
        return ord(ch) - ord("0")
    return ord(ch) - ord("A") + 10


def org_code_check_char(first8: str) -> str:
    """Return the GB 11714 check character for an 8-character organisation code.

    ``c = 11 - (sum(value * weight) mod 11)``; 10 maps to ``"X"`` and 11
    maps to ``"0"``.

    Raises:
        ValueError: if *first8* is not 8 digits / upper-case ASCII letters.
    """
    if len(first8) != 8 or any(ch not in _ORG_CODE_BODY_CHARS for ch in first8):
        raise ValueError("organisation code body must be 8 digits or upper-case letters")
    total = sum(_org_code_char_value(ch) * w for ch, w in zip(first8, ORG_CODE_WEIGHTS, strict=True))
    c = 11 - total % 11
    if c == 10:
        return "X"
    if c == 11:
        return "0"
    return str(c)


def is_valid_org_code(code: str) -> bool:
    """Return True if *code* is a 9-character GB 11714 organisation code."""
    if not isinstance(code, str) or len(code) != 9:
        return False
    body, check = code[:8], code[8]
    if any(ch not in _ORG_CODE_BODY_CHARS for ch in body):
        return False
    if check not in _ORG_CODE_CHECK_CHARS:
        return False
    return org_code_check_char(body) == check


def normalize_uscc(code: str) -> str:
    """Return *code* stripped of surrounding whitespace and upper-cased."""
    return code.strip().upper()


def is_valid_uscc(code: str) -> bool:
    """Return True if *code* is a valid, canonical Unified Social Credit Code.

    Only the canonical form is accepted (18 upper-case characters, no
    whitespace); call :func:`normalize_uscc` on user input first.
    """
    if not isinstance(code, str) or len(code) != 18:
        return False
    if any(ch not in _USCC_VALUES for ch in code):
        return False
    if not _is_digits(code[2:8]):
        return False
    if not is_valid_org_code(code[8:17]):
        return False
    return uscc_check_char(code[:17]) == code[17]


def make_uscc(first17: str) -> str:
    """Return *first17* with its GB 32100-2015 check character appended.

    Only the alphabet and length are checked here; the result is a valid
    USCC only if the prefix also has the required structure (digits at
    positions 3-8 and a valid organisation code at positions 9-17).
    """
    return first17 + uscc_check_char(first17)


def validate_uscc(value: str) -> None:
    """Django validator: raise ``ValidationError`` unless *value* is a valid USCC."""
    if not is_valid_uscc(value):
        raise ValidationError(_("统一社会信用代码无效"), code="invalid_uscc")


# --------------------------------------------------------------------------
# Resident identity card number (GB 11643-1999)
# --------------------------------------------------------------------------

#: ISO 7064 MOD 11-2 weights ``2**(18-i) mod 11`` for positions 1..17.
RESIDENT_ID_WEIGHTS: Final[tuple[int, ...]] = (
    7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2,
)  # fmt: skip

#: Check character indexed by ``sum(digit * weight) mod 11``.
RESIDENT_ID_CHECK_CHARS: Final[str] = "10X98765432"

#: Earliest birth date accepted in a resident ID.
RESIDENT_ID_MIN_BIRTH_DATE: Final[date] = date(1900, 1, 1)


def resident_id_check_char(first17: str) -> str:
    """Return the GB 11643-1999 (ISO 7064 MOD 11-2) check character.

    Raises:
        ValueError: if *first17* is not exactly 17 ASCII digits.
    """
    if len(first17) != 17 or not _is_digits(first17):
        raise ValueError("resident ID prefix must be exactly 17 digits")
    total = sum(int(ch) * w for ch, w in zip(first17, RESIDENT_ID_WEIGHTS, strict=True))
    return RESIDENT_ID_CHECK_CHARS[total % 11]


def normalize_resident_id(value: str) -> str:
    """Return *value* stripped of surrounding whitespace and upper-cased."""
    return value.strip().upper()


def resident_id_birth_date(value: str) -> date | None:
    """Return the birth date encoded at positions 7-14, or None if not a date."""
    digits = value[6:14]
    if len(digits) != 8 or not _is_digits(digits):
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def is_valid_resident_id(value: str, today: date | None = None) -> bool:
    """Return True if *value* is a valid, canonical resident ID number.

    The birth date must be a real date in ``[1900-01-01, today]``, where
    *today* defaults to today in China on the platform's clock. Only an upper-case
    ``X`` check character is accepted; call :func:`normalize_resident_id`
    on user input first.
    """
    if not isinstance(value, str) or len(value) != 18:
        return False
    first17, check = value[:17], value[17]
    if not _is_digits(first17):
        return False
    if check != "X" and check not in _DIGITS:
        return False
    birth = resident_id_birth_date(value)
    if birth is None:
        return False
    if today is None:
        today = timezone.localdate(now())
    if not RESIDENT_ID_MIN_BIRTH_DATE <= birth <= today:
        return False
    return resident_id_check_char(first17) == check


def make_resident_id(first17: str) -> str:
    """Return *first17* with its MOD 11-2 check character appended."""
    return first17 + resident_id_check_char(first17)


def validate_resident_id(value: str) -> None:
    """Django validator: raise ``ValidationError`` unless *value* is a valid ID."""
    if not is_valid_resident_id(value):
        raise ValidationError(_("身份证号码无效"), code="invalid_resident_id")
