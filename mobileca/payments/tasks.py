"""Periodic payment jobs, run by the Huey worker (``manage.py run_huey``)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from mobileca.audit.services import Actor
from mobileca.payments.closing import payments_close_expired
from mobileca.payments.query import payments_query_pending


@db_periodic_task(crontab(minute="*/5"))
def close_expired_orders() -> int:
    """Unpaid orders close on time (§7: offline remittance after 7 days)."""
    return payments_close_expired(actor=Actor("system", "auto-close"))


@db_periodic_task(crontab(minute="*"))
def query_pending_payments() -> int:
    """The active query (R1.7): a pending online payment whose notification was lost is found here."""
    return payments_query_pending(actor=Actor("system", "active-query"))
