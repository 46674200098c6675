"""The foundation's periodic job: forget rate-limit windows that have ended."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from mobileca.core import limits


@db_periodic_task(crontab(minute="*/15"))
def purge_rate_counts() -> int:
    return limits.purge_expired()
