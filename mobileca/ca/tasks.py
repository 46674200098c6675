"""Periodic CA jobs (Huey)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from mobileca.ca.services import crls_refresh


@db_periodic_task(crontab(minute="7"))
def refresh_crls() -> int:
    """Hourly: publish a fresh CRL before the current one reaches half its life (they also publish on revocation)."""
    return crls_refresh()
