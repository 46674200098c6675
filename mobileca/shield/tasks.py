"""Periodic signing-service jobs (Huey)."""

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from mobileca.core.errors import RetryableGatewayError
from mobileca.shield.renewal import expiry_reminders_send
from mobileca.shield.transfers import reverse_transfers_reconcile

log = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*"))
def reconcile_reverse_transfers() -> dict[str, int]:
    """Every minute: the bank statement's new credits against the open reverse-transfer verifications (反向打款).
    A bank that cannot be reached now is tried again at the next run (the cursor has not moved)."""
    try:
        return reverse_transfers_reconcile()
    except RetryableGatewayError as exc:
        log.warning("bank statement not read this time: %s", exc)
        return {}


@db_periodic_task(crontab(hour="9", minute="0"))
def send_expiry_reminders() -> int:
    """Daily at 09:00: texts 30 and 7 days before a credential expires (§7)."""
    return expiry_reminders_send()
