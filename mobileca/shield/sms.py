"""Text messages (the SMS provider): one call, the service's credential, base URL from settings only."""

from __future__ import annotations

from pathlib import Path

import httpx
from django.conf import settings
from django.db import transaction

from mobileca.core.errors import FinalGatewayError, RetryableGatewayError


def http_client() -> httpx.Client:
    """How the signing service reaches the SMS provider. Tests replace it with an in-process transport."""
    return httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))


def send(*, phone: str, text: str) -> None:
    conf = settings.MOBILECA_SMS
    secret = Path(conf["client_secret_path"]).read_text().strip()
    try:
        with http_client() as client:
            response = client.post(
                f"{conf['base_url']}/v1/messages",
                json={"phone": phone, "text": text},
                headers={"Authorization": f"Bearer {secret}"},
            )
    except httpx.TransportError as exc:
        raise RetryableGatewayError(f"SMS provider unreachable: {exc!r}") from exc
    if response.status_code != 200:
        raise FinalGatewayError(f"SMS provider said {response.status_code}")


def notify(*, phone: str, text: str) -> None:
    """A notice, not a code: it leaves after the commit of the change it reports; a lost one is logged, never undoes
    the change."""
    if phone:
        transaction.on_commit(lambda: send(phone=phone, text=text), robust=True)


def notify_account(*, account: str, text: str) -> None:
    """A notice to a phone identity's own number (kept sealed under the master key)."""
    from mobileca.shield.models import PhoneAccount
    from mobileca.shield.sealing import unseal_phone

    person = PhoneAccount.objects.filter(account=account).first()
    notify(phone=unseal_phone(account, bytes(person.phone_sealed)) if person else "", text=text)
