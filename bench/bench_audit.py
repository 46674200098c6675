"""Audit appends per second (each in its own transaction, hash-chained) against raw SQLite inserts of the same
rows with the same hashing, each in its own transaction."""

from __future__ import annotations

import hashlib
import sqlite3

from _harness import django_setup, rate, report

N = 2000


def main() -> None:
    var_dir = django_setup()
    from django.db import transaction

    from mobileca.audit.sequencer import audit_sequence
    from mobileca.audit.services import Actor, audit_record
    from mobileca.audit.verify import audit_verify

    actor = Actor("system", "bench")

    def platform() -> None:
        for index in range(N):
            with transaction.atomic():
                audit_record(action="bench.event", subject=f"bench:{index}", actor=actor, data={"n": index})

    platform_rate = rate(N, platform)
    audit_sequence()
    assert audit_verify().ok

    raw = sqlite3.connect(var_dir / "raw.sqlite3", isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("CREATE TABLE event (seq INTEGER PRIMARY KEY, subject TEXT, data TEXT, prev TEXT, hash TEXT)")

    def baseline() -> None:
        prev = "0" * 64
        for index in range(N):
            digest = hashlib.sha256(f"{prev}{index}bench:{index}".encode()).hexdigest()
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("INSERT INTO event VALUES (?, ?, ?, ?, ?)", (index, f"bench:{index}", "{}", prev, digest))
            raw.execute("COMMIT")
            prev = digest

    report("audit_append_sqlite", platform_rate, "events/s", rate(N, baseline))


if __name__ == "__main__":
    main()
