"""Periodic CA jobs (Huey)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from mobileca.ca.ocsp import ocsp_refresh
from mobileca.ca.services import crls_refresh


@db_periodic_task(crontab(minute="7"))
def refresh_crls() -> int:
    """Hourly: publish a fresh CRL before the current one reaches half its life (they also publish on revocation)."""
    return crls_refresh()


@db_periodic_task(crontab(minute="*/5"))
def refresh_ocsp_responses() -> int:
    """Every five minutes: sign again the OCSP responses past half their life (of every issuing CA, active or
    retired) and produce any missing one (they are also produced on issuance and revocation)."""
    return ocsp_refresh()
