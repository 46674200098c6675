"""Periodic signing-service jobs (Huey)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from mobileca.shield.transfers import reverse_transfers_reconcile


@db_periodic_task(crontab(minute="*"))
def reconcile_reverse_transfers() -> dict[str, int]:
    """Every minute: the bank statement's new credits against the open reverse-transfer verifications (反向打款)."""
    return reverse_transfers_reconcile()
