"""Money is exact; memo codes survive typing (R1.4, R1.6)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mobileca.core.ids import MEMO_ALPHABET, is_valid_memo_code, new_memo_code
from mobileca.core.money import format_yuan, from_fen, to_fen, yuan


def test_yuan_parses_exact_amounts_and_refuses_floats_and_sub_fen() -> None:
    assert yuan("300") == Decimal("300.00") and yuan("0.01") == Decimal("0.01")
    with pytest.raises(TypeError):
        yuan(300.0)  # type: ignore[arg-type]
    for bad in ["0.001", "NaN", "Infinity", "abc", ""]:
        with pytest.raises(ValueError):
            yuan(bad)


@given(st.integers(min_value=0, max_value=10**12))
def test_fen_round_trip_is_exact(fen: int) -> None:
    assert to_fen(from_fen(fen)) == fen


def test_format_yuan() -> None:
    assert format_yuan(Decimal("300")) == "¥300.00"


@given(st.integers(min_value=2, max_value=9), st.sampled_from(MEMO_ALPHABET))
def test_memo_code_detects_any_single_mistyped_character(position: int, replacement: str) -> None:
    code = new_memo_code()
    assert is_valid_memo_code(code)
    if code[position] == replacement:
        return
    typo = code[:position] + replacement + code[position + 1 :]
    assert not is_valid_memo_code(typo)


def test_memo_codes_are_distinct_and_well_formed() -> None:
    codes = {new_memo_code() for _ in range(2000)}
    assert len(codes) == 2000 and all(is_valid_memo_code(code) and len(code) == 10 for code in codes)


def _project_imports(module_path: str) -> set[str]:
    """The project modules a source file imports (function-level imports included)."""
    import ast
    from pathlib import Path

    found: set[str] = set()
    for node in ast.walk(ast.parse(Path(module_path).read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("mobileca.")}


def test_the_kernel_imports_no_part_above_it() -> None:
    # core is the shared kernel (errors, clock, money, ids, validators): every part may use it, it uses none of them
    from pathlib import Path

    import mobileca.core

    folder = Path(mobileca.core.__file__).parent
    leaks = {
        path.name: sorted(name for name in _project_imports(str(path)) if not name.startswith("mobileca.core"))
        for path in folder.glob("*.py")
    }
    assert {name: imports for name, imports in leaks.items() if imports} == {}
