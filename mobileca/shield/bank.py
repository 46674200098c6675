"""The bank, as the signing service uses it: pay from the verification account (正向打款), open an account per
application under the collection account and read that account's statement (反向打款). URL and credential from
settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from mobileca.core.errors import FinalGatewayError, InvalidInput
from mobileca.shield.providers import call, ensure_status, provider


def _call(method: str, path: str, *, what: str, ok: tuple[int, ...] = (200,), **kwargs: Any) -> httpx.Response:
    bank = provider("bank")
    response = call(bank, method, bank.url(path), headers=bank.bearer(), **kwargs)
    ensure_status(bank, response, ok, what)
    return response


def pay(*, to_number: str, to_name: str, amount: Decimal, memo: str) -> None:
    response = _call(
        "POST",
        "/v1/transfers",
        json={"to_number": to_number, "to_name": to_name, "amount": f"{amount:.2f}", "memo": memo},
        what="to a transfer",
        ok=(200, 400, 404),
    )
    if response.status_code in (400, 404):
        raise InvalidInput(str(response.json().get("message") or "收款账户信息有误"), code="bank_refused")


@dataclass(frozen=True)
class SubAccount:
    number: str
    holder_name: str
    bank_name: str


def open_sub_account(*, reference: str) -> SubAccount:
    """An account under the collection account for one application (the same one again for the same reference)."""
    response = _call("POST", "/v1/sub-accounts", json={"reference": reference}, what="opening a sub-account")
    data = response.json()
    return SubAccount(number=str(data["number"]), holder_name=str(data["holder_name"]), bank_name=str(data["bank"]))


@dataclass(frozen=True)
class Credit:
    bank_ref: str
    sequence: int
    to_number: str
    from_number: str
    from_name: str  # the payer account's holder, as the bank knows it
    amount: Decimal
    memo: str
    booked_at: datetime


def credits_after(*, sequence: int, limit: int = 200) -> list[Credit]:
    """The collection account's credits (its sub-accounts' included) booked after ``sequence``, in order."""
    account = provider("bank").conf["collection_account"]
    response = _call(
        "GET",
        f"/v1/accounts/{account}/credits",
        params={"after": sequence, "limit": limit},
        what="reading the statement",
    )
    try:
        return [
            Credit(
                bank_ref=str(row["id"]),
                sequence=int(row["id"]),
                to_number=str(row["to_number"]),
                from_number=str(row["from_number"]),
                from_name=str(row.get("from_name", "")),
                amount=Decimal(str(row["amount"])),
                memo=str(row.get("memo", "")),
                booked_at=datetime.fromisoformat(str(row["booked_at"])),
            )
            for row in response.json()["credits"]
        ]
    except (KeyError, ValueError, ArithmeticError) as exc:
        raise FinalGatewayError(f"bank statement unreadable: {exc!r}") from exc
