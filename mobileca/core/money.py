"""Money is ``Decimal`` yuan with two places; never float. Gateways that count in fen convert here."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")


MAX_AMOUNT = Decimal("9999999999.99")  # what the ledger's DecimalField(max_digits=12, decimal_places=2) holds


def yuan(value: str | int | Decimal) -> Decimal:
    """Parse an exact amount of yuan. Refuses floats, NaN, infinities, sub-fen precision and absurd sizes."""
    if isinstance(value, float):
        raise TypeError("money is never a float")
    try:
        amount = Decimal(value)
        if not amount.is_finite() or abs(amount) > MAX_AMOUNT:
            raise ValueError(f"not an amount: {value!r}")
        if amount != amount.quantize(CENT):
            raise ValueError(f"more precise than one fen: {value!r}")
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    return amount.quantize(CENT)


def to_fen(amount: Decimal) -> int:
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_fen(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(CENT)


def format_yuan(amount: Decimal) -> str:
    return f"¥{amount.quantize(CENT):,.2f}"
