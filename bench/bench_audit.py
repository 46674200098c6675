"""The audit log's write path (issue 15).

* ``audit_append_16w``: events appended per second by 16 concurrent writers (processes), each event in its own
  transaction as a change writes it, against raw psycopg inserting the same rows from 16 connections, each row its
  own transaction (the database's own rate for the same work). PostgreSQL when ``BENCH_DATABASE_URL`` names a
  database this may drop and create; on SQLite (one writer at a time) a single writer against raw sqlite3.
* ``audit_sequencer_lag_max``: while the writers run, the sequencer loops as the job worker runs it (every
  ``MOBILECA_AUDIT_SEQUENCER_INTERVAL_MS``); the longest wait from an event's commit to its inclusion in a signed
  tree head, against the configured interval.
* ``audit_sequence``: events sequenced per second from a backlog (leaf hashes, nodes, one signed head per batch),
  against hashing the same canonical entries and nodes with hashlib alone.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import secrets
import sqlite3
import threading
import time

from _harness import django_setup, rate, report

WRITERS = 16
DURATION = 5.0


def _writer(stop_at: float, counter: multiprocessing.sharedctypes.Synchronized) -> None:  # type: ignore[name-defined]
    from django.db import connection, transaction

    from mobileca.audit.services import Actor, audit_record

    connection.close()  # a connection of its own, not the parent's
    actor, done = Actor("system", f"bench-{os.getpid()}"), 0
    while time.time() < stop_at:
        with transaction.atomic():
            audit_record(action="bench.event", subject=f"bench:{done}", actor=actor, data={"n": done})
        done += 1
    with counter.get_lock():
        counter.value += done
    connection.close()


def _sequencer(stop: threading.Event, interval: float) -> None:
    from django.db import connection

    from mobileca.audit.sequencer import audit_sequence

    while not stop.is_set():
        audit_sequence()
        time.sleep(interval)
    connection.close()


def _raw_postgres(url: str) -> float:
    import psycopg

    counts = [0] * WRITERS
    stop_at = time.time() + DURATION

    def work(slot: int) -> None:
        with psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True) as raw:
            done = 0
            while time.time() < stop_at:
                raw.execute(
                    "INSERT INTO audit_auditevent (occurred_at, actor, action, subject, data, salt) "
                    "VALUES (now(), %s, 'bench.raw', %s, %s, %s)",
                    (f"system:raw-{slot}", f"bench:{done}", json.dumps({"n": done}), secrets.token_hex(16)),
                )
                done += 1
            counts[slot] = done

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def postgres(url: str) -> None:
    from django.conf import settings
    from django.db import connection

    from mobileca.audit.models import AuditEvent, TreeHead
    from mobileca.audit.sequencer import audit_sequence, log_key_ensure
    from mobileca.audit.verify import audit_verify
    from mobileca.ca.services import ca_init

    ca_init()
    log_key_ensure()
    audit_sequence()
    connection.close()
    interval = settings.MOBILECA_AUDIT["sequencer_interval_ms"] / 1000
    context = multiprocessing.get_context("fork")
    counter = context.Value("l", 0)
    stop = threading.Event()
    sequencer = threading.Thread(target=_sequencer, args=(stop, interval))
    first_head = TreeHead.objects.order_by("-id").values_list("id", flat=True).first()
    connection.close()
    stop_at = time.time() + DURATION
    started = time.perf_counter()
    writers = [context.Process(target=_writer, args=(stop_at, counter)) for _ in range(WRITERS)]
    for process in writers:
        process.start()
    sequencer.start()
    for process in writers:
        process.join()
    elapsed = time.perf_counter() - started
    stop.set()
    sequencer.join()
    appended = counter.value
    audit_sequence()
    lag = max(TreeHead.objects.filter(id__gt=first_head or 0).values_list("max_lag_ms", flat=True), default=0)
    assert AuditEvent.objects.filter(leaf_index__isnull=True).count() == 0
    report("audit_append_16w", appended / elapsed, "events/s", _raw_postgres(url))
    report("audit_sequencer_lag_max", lag, "ms", interval * 1000)
    backlog(verify=audit_verify)


def backlog(verify: object = None) -> None:
    """Sequencing alone, from a backlog of N events written in bulk."""
    from django.db import transaction

    from mobileca.audit import merkle
    from mobileca.audit.models import AuditEvent
    from mobileca.audit.sequencer import audit_sequence
    from mobileca.audit.services import Actor, AuditEntry, audit_record_many, canonical_entry

    count, actor = 20000, Actor("system", "bench")
    with transaction.atomic():
        for start in range(0, count, 1000):
            audit_record_many(
                [AuditEntry("bench.backlog", f"bench:{n}", actor, data={"n": n}) for n in range(start, start + 1000)]
            )
    entries = [canonical_entry(event) for event in AuditEvent.objects.filter(leaf_index__isnull=True)[:count]]
    sequence_rate = rate(count, lambda: audit_sequence())

    def raw() -> None:
        appender = merkle.Appender(0, [])
        for entry in entries:
            appender.append(hashlib.sha256(b"\x00" + entry).digest())

    report("audit_sequence", sequence_rate, "events/s", rate(len(entries), raw))
    if callable(verify):
        assert verify().ok


def sqlite(var_dir: object) -> None:
    from django.db import transaction

    from mobileca.audit.sequencer import audit_sequence
    from mobileca.audit.services import Actor, audit_record
    from mobileca.audit.verify import audit_verify
    from mobileca.ca.services import ca_init

    ca_init()
    count, actor = 2000, Actor("system", "bench")

    def platform() -> None:
        for index in range(count):
            with transaction.atomic():
                audit_record(action="bench.event", subject=f"bench:{index}", actor=actor, data={"n": index})

    platform_rate = rate(count, platform)
    audit_sequence()
    raw = sqlite3.connect(f"{var_dir}/raw.sqlite3", isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("CREATE TABLE event (id INTEGER PRIMARY KEY, subject TEXT, data TEXT, salt TEXT)")

    def baseline() -> None:
        for index in range(count):
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("INSERT INTO event VALUES (?, ?, ?, ?)", (index, f"bench:{index}", "{}", secrets.token_hex(16)))
            raw.execute("COMMIT")

    report("audit_append_sqlite", platform_rate, "events/s", rate(count, baseline))
    backlog(verify=audit_verify)


def main() -> None:
    var_dir = django_setup(database_env="BENCH_DATABASE_URL")
    url = os.environ.get("BENCH_DATABASE_URL", "")
    if url:
        postgres(url)
    else:
        sqlite(var_dir)


if __name__ == "__main__":
    main()
