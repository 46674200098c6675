"""The sequencer in the job worker: a loop every ``MOBILECA_AUDIT["sequencer_interval_ms"]`` in one thread of the
worker process, started when the worker starts, and a once-a-minute catch-up task in case that thread is not
running. Several workers may run these: the sequencer's lock lets one of them work at a time."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task

from mobileca.audit.sequencer import audit_sequence

log = logging.getLogger(__name__)
_started = threading.Lock()  # held once the loop runs: the first worker thread to start takes it


@db_periodic_task(crontab(minute="*"))
def audit_sequence_catch_up() -> int:
    return audit_sequence()


def _loop(interval: float) -> None:
    while True:
        try:
            audit_sequence()
        except Exception:  # the loop must outlive a database restart; the error is logged, the next round retries
            log.exception("audit sequencer round failed")
        finally:
            close_old_connections()
        time.sleep(interval)


@HUEY.on_startup()
def start_sequencer_loop() -> None:
    """Runs in each worker thread at start; only the first starts the loop."""
    interval_ms = settings.MOBILECA_AUDIT["sequencer_interval_ms"]
    if interval_ms <= 0 or not _started.acquire(blocking=False):
        return
    threading.Thread(target=_loop, args=(interval_ms / 1000,), name="audit-sequencer", daemon=True).start()
