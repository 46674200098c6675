"""Tests for mobileca.core.validators (USCC: R3.3; resident ID: GB 11643-1999).

Pure-Python tests: no database and no Django settings are needed.
"""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from mobileca.core.validators import (
    USCC_ALPHABET,
    USCC_WEIGHTS,
    is_valid_org_code,
    is_valid_resident_id,
    is_valid_uscc,
    make_resident_id,
    make_uscc,
    normalize_resident_id,
    normalize_uscc,
    org_code_check_char,
    resident_id_check_char,
    uscc_check_char,
    validate_resident_id,
    validate_uscc,
)

# Codes verified by hand-computation of both the GB 11714 organisation-code
# check (position 17) and the GB 32100-2015 check character (position 18).
KNOWN_VALID_USCCS = [
    "91350100M000100Y43",
    "91110000802100433B",
    "91110108551385082Q",
    "91310000MA1FL4B24G",
]

FIXED_TODAY = date(2025, 6, 30)

DIGITS = "0123456789"


# --------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------


@st.composite
def uscc_prefixes(draw: st.DrawFn) -> str:
    """17-char USCC prefixes with the required structure (R3.3)."""
    authority = draw(st.sampled_from(USCC_ALPHABET))
    entity_type = draw(st.sampled_from(USCC_ALPHABET))
    division = draw(st.text(alphabet=DIGITS, min_size=6, max_size=6))
    org_body = draw(st.text(alphabet=USCC_ALPHABET, min_size=8, max_size=8))
    return authority + entity_type + division + org_body + org_code_check_char(org_body)


valid_usccs = uscc_prefixes().map(make_uscc)


@st.composite
def resident_id_prefixes(draw: st.DrawFn) -> str:
    """17-digit resident-ID prefixes with a birth date in [1900-01-01, FIXED_TODAY]."""
    address = draw(st.text(alphabet=DIGITS, min_size=6, max_size=6))
    birth = draw(st.dates(min_value=date(1900, 1, 1), max_value=FIXED_TODAY))
    sequence = draw(st.text(alphabet=DIGITS, min_size=3, max_size=3))
    return f"{address}{birth:%Y%m%d}{sequence}"


valid_resident_ids = resident_id_prefixes().map(make_resident_id)


# --------------------------------------------------------------------------
# USCC known answers (R3.3)
# --------------------------------------------------------------------------


def test_uscc_alphabet_has_31_chars_and_excludes_i_o_z_s_v() -> None:
    # R3.3: GB 32100-2015 alphabet
    assert len(USCC_ALPHABET) == 31
    assert len(set(USCC_ALPHABET)) == 31
    assert not set("IOZSV") & set(USCC_ALPHABET)


def test_uscc_weights_are_powers_of_three_mod_31() -> None:
    # R3.3
    assert list(USCC_WEIGHTS) == [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


@pytest.mark.parametrize("code", KNOWN_VALID_USCCS)
def test_known_uscc_examples_are_valid(code: str) -> None:
    # R3.3
    assert is_valid_uscc(code)
    assert uscc_check_char(code[:17]) == code[17]
    assert make_uscc(code[:17]) == code


def test_uscc_check_char_of_reference_example_is_3() -> None:
    # R3.3
    assert uscc_check_char("91350100M000100Y4") == "3"


@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y44",  # wrong check character
        "91350100M000100Y53",  # organisation-code check digit changed
        "91350101M000100Y43",  # division-code digit changed
        "81350100M000100Y43",  # first character changed
    ],
)
def test_uscc_with_one_char_changed_is_invalid(code: str) -> None:
    # R3.3
    assert not is_valid_uscc(code)


def test_lowercase_uscc_is_rejected_but_normalize_fixes_it() -> None:
    # R3.3
    raw = "  91310000ma1fl4b24g \n"
    assert not is_valid_uscc(raw)
    assert not is_valid_uscc(raw.strip())
    assert normalize_uscc(raw) == "91310000MA1FL4B24G"
    assert is_valid_uscc(normalize_uscc(raw))


@pytest.mark.parametrize(
    "code",
    ["", "91350100M000100Y4", "91350100M000100Y433", "991350100M000100Y43", "91350100M000100Y4 3"],
)
def test_uscc_with_wrong_length_or_whitespace_is_invalid(code: str) -> None:
    # R3.3
    assert not is_valid_uscc(code)


@pytest.mark.parametrize("letter", list("IOZSV"))
@pytest.mark.parametrize("position", [0, 1, 8, 12, 16, 17])
def test_uscc_containing_excluded_letter_is_invalid(letter: str, position: int) -> None:
    # R3.3: I, O, Z, S and V are never used
    code = "91310000MA1FL4B24G"
    mutated = code[:position] + letter + code[position + 1 :]
    assert not is_valid_uscc(mutated)


@pytest.mark.parametrize("letter", list("IOZSV"))
def test_uscc_check_char_rejects_excluded_letters(letter: str) -> None:
    # R3.3
    with pytest.raises(ValueError):
        uscc_check_char("91350100M000100" + letter + "4")


@pytest.mark.parametrize("prefix", ["", "91350100M000100Y", "91350100M000100Y43", "91350100m000100Y4"])
def test_uscc_check_char_rejects_bad_prefix(prefix: str) -> None:
    # R3.3
    with pytest.raises(ValueError):
        uscc_check_char(prefix)


def test_uscc_with_letter_in_division_code_is_invalid_even_if_checksum_matches() -> None:
    # R3.3: positions 3-8 are the administrative division code (digits)
    code = make_uscc("91A50100M000100Y4")
    assert uscc_check_char(code[:17]) == code[17]
    assert not is_valid_uscc(code)


def test_uscc_with_bad_org_code_check_is_invalid_even_if_checksum_matches() -> None:
    # R3.3: positions 9-17 are a GB 11714 organisation code
    code = make_uscc("91350100M000100Y5")
    assert uscc_check_char(code[:17]) == code[17]
    assert not is_valid_uscc(code)


def test_org_code_check_char_known_answers() -> None:
    # R3.3: GB 11714, 10 -> "X", 11 -> "0"
    assert org_code_check_char("M000100Y") == "4"
    assert org_code_check_char("80210043") == "3"
    assert org_code_check_char("00000006") == "X"
    assert org_code_check_char("00000000") == "0"
    assert is_valid_org_code("M000100Y4")
    assert is_valid_org_code("00000006X")
    assert not is_valid_org_code("M000100Y5")
    assert not is_valid_org_code("M000100Y")


def test_validate_uscc_accepts_valid_code() -> None:
    # R3.3
    validate_uscc("91350100M000100Y43")


def test_validate_uscc_raises_validation_error_with_code() -> None:
    # R3.3
    with pytest.raises(ValidationError) as excinfo:
        validate_uscc("91350100M000100Y44")
    assert excinfo.value.code == "invalid_uscc"
    assert excinfo.value.messages == ["统一社会信用代码无效"]


# --------------------------------------------------------------------------
# USCC properties (R3.3)
# --------------------------------------------------------------------------


@given(uscc_prefixes())
def test_make_uscc_of_any_structured_prefix_is_valid(prefix: str) -> None:
    # R3.3
    code = make_uscc(prefix)
    assert len(code) == 18
    assert code[:17] == prefix
    assert is_valid_uscc(code)


@given(valid_usccs, st.integers(min_value=0, max_value=17), st.sampled_from(USCC_ALPHABET))
def test_any_single_char_substitution_in_uscc_is_detected(code: str, position: int, char: str) -> None:
    # R3.3: MOD 31 with weights coprime to 31 catches every single substitution
    if code[position] == char:
        char = USCC_ALPHABET[(USCC_ALPHABET.index(char) + 1) % len(USCC_ALPHABET)]
    mutated = code[:position] + char + code[position + 1 :]
    assert not is_valid_uscc(mutated)


@given(valid_usccs, st.integers(min_value=0, max_value=16))
def test_any_adjacent_transposition_in_uscc_is_detected(code: str, position: int) -> None:
    # R3.3: consecutive weights (including the check char's weight 1) differ mod 31
    a, b = code[position], code[position + 1]
    if a == b:
        return
    swapped = code[:position] + b + a + code[position + 2 :]
    assert not is_valid_uscc(swapped)


@given(valid_usccs)
def test_normalize_uscc_is_identity_on_valid_codes_and_undoes_lowercase(code: str) -> None:
    # R3.3
    assert normalize_uscc(code) == code
    assert normalize_uscc(f" {code.lower()}\t") == code


# --------------------------------------------------------------------------
# Resident ID known answers (GB 11643-1999)
# --------------------------------------------------------------------------


def test_make_resident_id_of_standard_example_ends_with_x() -> None:
    resident_id = make_resident_id("11010519491231002")
    assert resident_id == "11010519491231002X"
    assert resident_id_check_char("11010519491231002") == "X"
    assert is_valid_resident_id(resident_id, today=FIXED_TODAY)
    assert is_valid_resident_id(resident_id)


def test_lowercase_x_is_rejected_but_normalize_fixes_it() -> None:
    assert not is_valid_resident_id("11010519491231002x", today=FIXED_TODAY)
    assert normalize_resident_id(" 11010519491231002x ") == "11010519491231002X"


def test_resident_id_with_wrong_check_char_is_invalid() -> None:
    assert not is_valid_resident_id("110105194912310020", today=FIXED_TODAY)
    assert not is_valid_resident_id("110105194912310021", today=FIXED_TODAY)


def test_resident_id_with_30_february_birth_date_is_invalid() -> None:
    resident_id = make_resident_id("11010520000230001")
    assert not is_valid_resident_id(resident_id, today=FIXED_TODAY)


def test_resident_id_with_29_february_in_leap_year_only() -> None:
    assert is_valid_resident_id(make_resident_id("11010520000229001"), today=FIXED_TODAY)
    assert not is_valid_resident_id(make_resident_id("11010519000229001"), today=FIXED_TODAY)


def test_resident_id_with_future_birth_date_is_invalid() -> None:
    resident_id = make_resident_id("11010520200102001")
    assert not is_valid_resident_id(resident_id, today=date(2020, 1, 1))
    assert is_valid_resident_id(resident_id, today=date(2020, 1, 2))


def test_resident_id_birth_date_is_checked_against_today_in_china_on_the_platform_clock() -> None:
    # 2020-01-01 16:30 UTC is already 2020-01-02 in Beijing: someone born that day has a valid ID there
    from datetime import UTC, datetime

    from mobileca.core.clock import clock

    resident_id = make_resident_id("11010520200102001")
    with clock.frozen(datetime(2020, 1, 1, 15, 59, tzinfo=UTC)):
        assert not is_valid_resident_id(resident_id)
    with clock.frozen(datetime(2020, 1, 1, 16, 30, tzinfo=UTC)):
        assert is_valid_resident_id(resident_id)


def test_resident_id_born_before_1900_is_invalid() -> None:
    # GB 11643-1999's own example has a correct check digit but an 1880 birth date.
    assert resident_id_check_char("44052418800101001") == "4"
    assert not is_valid_resident_id("440524188001010014", today=FIXED_TODAY)
    assert not is_valid_resident_id(make_resident_id("11010518991231001"), today=FIXED_TODAY)
    assert is_valid_resident_id(make_resident_id("11010519000101001"), today=FIXED_TODAY)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "11010519491231002",
        "11010519491231002X0",
        "1101051949123100AX",  # letter in the first 17
        "11010519491231002Y",  # bad check char
        "１１０１０５１９４９１２３１００２X",  # full-width digits
        "110105194913310026",  # month 13
        "110105194912000026",  # day 00
    ],
)
def test_malformed_resident_ids_are_invalid(value: str) -> None:
    assert not is_valid_resident_id(value, today=FIXED_TODAY)


@pytest.mark.parametrize("prefix", ["", "1101051949123100", "110105194912310021", "1101051949123100A"])
def test_resident_id_check_char_rejects_bad_prefix(prefix: str) -> None:
    with pytest.raises(ValueError):
        resident_id_check_char(prefix)


def test_validate_resident_id_accepts_valid_id() -> None:
    validate_resident_id("11010519491231002X")


def test_validate_resident_id_raises_validation_error_with_code() -> None:
    with pytest.raises(ValidationError) as excinfo:
        validate_resident_id("110105194912310020")
    assert excinfo.value.code == "invalid_resident_id"
    assert excinfo.value.messages == ["身份证号码无效"]


# --------------------------------------------------------------------------
# Resident ID properties
# --------------------------------------------------------------------------


@given(resident_id_prefixes())
def test_make_resident_id_of_any_valid_prefix_is_valid(prefix: str) -> None:
    resident_id = make_resident_id(prefix)
    assert resident_id[:17] == prefix
    assert resident_id[17] in "0123456789X"
    assert is_valid_resident_id(resident_id, today=FIXED_TODAY)


@given(valid_resident_ids, st.integers(min_value=0, max_value=16), st.sampled_from(DIGITS))
def test_any_single_digit_substitution_in_resident_id_is_detected(resident_id: str, position: int, digit: str) -> None:
    if resident_id[position] == digit:
        digit = str((int(digit) + 1) % 10)
    mutated = resident_id[:position] + digit + resident_id[position + 1 :]
    assert not is_valid_resident_id(mutated, today=FIXED_TODAY)


@given(valid_resident_ids, st.sampled_from("0123456789X"))
def test_any_check_char_substitution_in_resident_id_is_detected(resident_id: str, char: str) -> None:
    if resident_id[17] == char:
        return
    assert not is_valid_resident_id(resident_id[:17] + char, today=FIXED_TODAY)


@given(valid_resident_ids, st.integers(min_value=0, max_value=16))
def test_any_adjacent_transposition_in_resident_id_is_detected(resident_id: str, position: int) -> None:
    # MOD 11-2: consecutive weights (including the check char's weight 1) all
    # differ mod 11, so swapping two adjacent distinct digits always changes
    # the checksum.
    a, b = resident_id[position], resident_id[position + 1]
    if a == b or "X" in (a, b):
        return
    swapped = resident_id[:position] + b + a + resident_id[position + 2 :]
    assert not is_valid_resident_id(swapped, today=FIXED_TODAY)
