"""The audit log in tests: sequence what has been committed, then recompute everything."""

from __future__ import annotations

from mobileca.audit.sequencer import audit_sequence
from mobileca.audit.verify import audit_verify


def log_intact() -> bool:
    """Whether the log, with every event written so far sequenced and signed, verifies end to end."""
    audit_sequence()
    report = audit_verify()
    assert report.pending == 0, report
    return report.ok
