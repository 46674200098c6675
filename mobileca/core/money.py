"""Money is ``Decimal`` yuan with two places; never float. Gateways that count in fen convert here."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")


def yuan(value: str | int | Decimal) -> Decimal:
    """Parse an exact amount of yuan. Refuses floats, NaN, infinities and sub-fen precision."""
    if isinstance(value, float):
        raise TypeError("money is never a float")
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    if amount != amount.quantize(CENT):
        raise ValueError(f"more precise than one fen: {value!r}")
    return amount.quantize(CENT)


def to_fen(amount: Decimal) -> int:
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_fen(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(CENT)


def format_yuan(amount: Decimal) -> str:
    return f"¥{amount.quantize(CENT):,.2f}"
