"""Text messages (the SMS provider): one call, the service's credential, base URL from settings only. Every notice
ends with a short, signed link into e签盾 (``shield.links``): the page it is about, the home by default."""

from __future__ import annotations

from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from mobileca.shield import links
from mobileca.shield.providers import call, ensure_status, provider


@sensitive_variables()
def send(*, phone: str, text: str) -> None:
    sms = provider("sms")
    response = call(sms, "POST", sms.url("/v1/messages"), json={"phone": phone, "text": text}, headers=sms.bearer())
    ensure_status(sms, response)


def with_link(text: str, link: str | None = None) -> str:
    """The notice and its link (``link`` None: the e签盾 home)."""
    return f"{text} {link or links.link_url(links.HOME)}"


@sensitive_variables()
def notify(*, phone: str, text: str, link: str | None = None) -> None:
    """A notice, not a code: it leaves after the commit of the change it reports; a lost one is logged, never undoes
    the change. ``link`` (a ``links.link_url``) is where it leads; the e签盾 home by default."""
    if phone:
        message = with_link(text, link)
        transaction.on_commit(lambda: send(phone=phone, text=message), robust=True)


def notify_account(*, account: str, text: str, link: str | None = None) -> None:
    """A notice to a phone identity's own number (kept sealed under the master key)."""
    from mobileca.shield.models import PhoneAccount
    from mobileca.shield.sealing import unseal_phone

    person = PhoneAccount.objects.filter(account=account).first()
    notify(phone=unseal_phone(account, bytes(person.phone_sealed)) if person else "", text=text, link=link)
