"""The bank: the signing service pays from its verification account (正向打款). URL and credential from settings."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
from django.conf import settings

from mobileca.core.errors import FinalGatewayError, InvalidInput, RetryableGatewayError


def http_client() -> httpx.Client:
    """How the signing service reaches the bank. Tests replace it with an in-process transport."""
    return httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))


def pay(*, to_number: str, to_name: str, amount: Decimal, memo: str) -> None:
    conf = settings.MOBILECA_BANK
    secret = Path(conf["client_secret_path"]).read_text().strip()
    try:
        with http_client() as client:
            response = client.post(
                f"{conf['base_url']}/v1/transfers",
                json={"to_number": to_number, "to_name": to_name, "amount": f"{amount:.2f}", "memo": memo},
                headers={"Authorization": f"Bearer {secret}"},
            )
    except httpx.TransportError as exc:
        raise RetryableGatewayError(f"bank unreachable: {exc!r}") from exc
    if response.status_code in (400, 404):
        raise InvalidInput(str(response.json().get("message") or "收款账户信息有误"), code="bank_refused")
    if response.status_code != 200:
        raise FinalGatewayError(f"bank said {response.status_code}")
