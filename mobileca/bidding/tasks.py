"""Bidding jobs (Huey): the readiness checks before the opening (issue 21)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from mobileca.bidding.readiness import bid_readiness_check, readiness_checks_due


@db_task()
def readiness_check_sealed(bid_id: int) -> None:
    """Right after sealing: the first readiness check of the bid."""
    bid_readiness_check(bid_id=bid_id, lead="sealed")


@db_periodic_task(crontab(minute="17"))
def readiness_checks() -> int:
    """Every hour: the checks due at sealing (if missed) and at the lead times before each opening."""
    return readiness_checks_due()
