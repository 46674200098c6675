"""Periodic card jobs (Huey)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from mobileca.cards.services import cards_expire_due


@db_periodic_task(crontab(minute="*/10"))
def expire_cards() -> int:
    """Every ten minutes: cards past their 服务到期时间 show 已过期 (the credential itself stops signing at the
    second it expires; this only moves the card's status)."""
    return cards_expire_due()
