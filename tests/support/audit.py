"""The audit log in tests: sequence what has been committed, then recompute everything."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from mobileca.audit.sequencer import audit_sequence
from mobileca.audit.verify import audit_verify


def log_intact() -> bool:
    """Whether the log, with every event written so far sequenced and signed, verifies end to end."""
    audit_sequence()
    report = audit_verify()
    assert report.pending == 0, report
    return report.ok


@contextmanager
def tampering() -> Iterator[None]:
    """Direct SQL on the log's tables, as an intruder with database access would write it (PostgreSQL's triggers,
    which refuse such writes, are disabled for the length of the block; the tests run as the superuser)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = DEFAULT")
