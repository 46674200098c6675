"""The sequencer: the one writer of the tree (in the manner of Trillian's).

Writers only insert events. The sequencer, one at a time (a PostgreSQL advisory lock; on SQLite the database's
single writer and the unique leaf index), takes committed events that have no leaf yet, in batches, gives them
consecutive leaf indexes, stores every perfect node they complete, and signs a tree head for the grown tree with the
log key, all in one transaction. It runs every second in the job worker (``tasks.py``) and on demand
(``manage.py audit_sequence``, and the tests).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.views.decorators.debug import sensitive_variables

from mobileca.audit import merkle
from mobileca.audit.models import AuditEvent, AuditNode, LogKey, TreeHead
from mobileca.audit.proofs import stored_nodes
from mobileca.audit.services import canonical_entry
from mobileca.audit.treehead import SIGNATURE_ALGORITHM, key_id, tree_head_data
from mobileca.ca.backends import KeyBackend
from mobileca.ca.backends.factory import backend as configured_backend
from mobileca.core.clock import now

log = logging.getLogger(__name__)
ADVISORY_LOCK = 0x6D6F6263615F6C67  # "mobca_lg": one sequencer at a time across every process and machine
_local_lock = threading.Lock()  # SQLite has no advisory locks: one sequencer per process, the database does the rest


@dataclass(frozen=True)
class Batch:
    sequenced: int
    tree_size: int
    max_lag_ms: int


# --- the log key ------------------------------------------------------------------------------------------------


@sensitive_variables()
def log_key_ensure(*, key_backend: KeyBackend | None = None) -> LogKey:
    """The active log key, created in the CA's key back-end the first time (``ca_init`` calls this)."""
    found = LogKey.objects.filter(is_active=True).first()
    if found is not None:
        return found
    keys = key_backend or configured_backend()
    label = f"mobileca-log-{secrets.token_hex(4)}"
    public = keys.create_signing_key(label, ec.SECP256R1())
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return LogKey.objects.create(
        key_backend=keys.name, key_label=label, public_key_der=der, key_id=key_id(der), created_at=now()
    )


@sensitive_variables()
def _sign(log_key: LogKey, data: bytes, key_backend: KeyBackend | None) -> bytes:
    return (key_backend or configured_backend()).signing_key(log_key.key_label).sign(data, SIGNATURE_ALGORITHM)


# --- sequencing ---------------------------------------------------------------------------------------------------


def _acquire() -> bool:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [ADVISORY_LOCK])
            return bool(cursor.fetchone()[0])
    return True


def _assign_leaves(pairs: Sequence[tuple[int, int]]) -> None:
    """Set each event's leaf index with one statement: ``UPDATE … FROM unnest(…)`` on PostgreSQL (two array
    parameters), ``UPDATE … FROM (VALUES …)`` on SQLite."""
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} SET leaf_index = v.leaf FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, leaf) "  # noqa: S608 - no user input
                f"WHERE {table}.id = v.id",
                [[event_id for event_id, _ in pairs], [leaf for _, leaf in pairs]],
            )
            return
        values = ", ".join(["(%s, %s)"] * len(pairs))
        cursor.execute(
            f"UPDATE {table} SET leaf_index = v.column2 FROM (VALUES {values}) AS v "  # noqa: S608 - no user input
            f"WHERE {table}.id = v.column1",
            [value for pair in pairs for value in pair],
        )


def _insert_nodes(rows: Sequence[tuple[int, int, bytes]]) -> None:
    """Store new nodes: COPY on PostgreSQL, one prepared INSERT for many rows on SQLite."""
    table = AuditNode._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f'COPY {table} (level, "index", hash) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
            return
        cursor.executemany(f'INSERT INTO {table} (level, "index", hash) VALUES (%s, %s, %s)', rows)  # noqa: S608


def _sequence_batch(limit: int, key_backend: KeyBackend | None, max_age: timedelta) -> Batch | None:
    """One batch in one transaction; ``None`` when another sequencer holds the lock."""
    with transaction.atomic():
        if not _acquire():
            return None
        log_key = log_key_ensure(key_backend=key_backend)
        latest = TreeHead.objects.first()
        size = latest.tree_size if latest else 0
        events = list(AuditEvent.objects.filter(leaf_index__isnull=True).order_by("id")[:limit])
        moment = now()
        if not events and latest is not None and moment - _head_time(latest) < max_age:
            return Batch(0, size, 0)
        frontier_nodes = merkle.root_nodes(size)
        found = stored_nodes(frontier_nodes)
        appender = merkle.Appender(size, [found[node] for node in frontier_nodes])
        new_nodes: list[tuple[int, int, bytes]] = []
        for event in events:
            new_nodes.extend(appender.append(merkle.leaf_hash(canonical_entry(event))))
        if events:
            _assign_leaves([(event.pk, size + offset) for offset, event in enumerate(events)])
            _insert_nodes(new_nodes)
        root = appender.root()
        timestamp_ms = int(moment.timestamp() * 1000)
        if latest is not None and timestamp_ms <= latest.timestamp_ms:
            timestamp_ms = latest.timestamp_ms + 1  # heads are strictly ordered in time
        lag = int((moment - min(event.occurred_at for event in events)).total_seconds() * 1000) if events else 0
        TreeHead.objects.create(
            tree_size=appender.size,
            root_hash=root,
            timestamp_ms=timestamp_ms,
            signature=_sign(
                log_key, tree_head_data(timestamp_ms=timestamp_ms, tree_size=appender.size, root_hash=root), key_backend
            ),
            log_key=log_key,
            max_lag_ms=lag,
        )
        return Batch(len(events), appender.size, lag)


def _head_time(head: TreeHead) -> datetime:
    return datetime.fromtimestamp(head.timestamp_ms / 1000, tz=UTC)


def audit_sequence(
    *, batch_size: int | None = None, max_batches: int = 1000, key_backend: KeyBackend | None = None
) -> int:
    """Sequence every committed event that has no leaf yet; the number sequenced (0 if another sequencer runs).

    Also signs a fresh head for an unchanged tree once the latest is older than ``MOBILECA_AUDIT_STH_MAX_AGE``, so
    a client can tell a live log from a stalled one.
    """
    limit = batch_size or settings.MOBILECA_AUDIT["batch_size"]
    max_age = timedelta(seconds=settings.MOBILECA_AUDIT["sth_max_age_seconds"])
    local = connection.vendor != "postgresql"  # PostgreSQL's advisory lock covers every process already
    if local and not _local_lock.acquire(blocking=False):
        return 0
    total = 0
    try:
        for _ in range(max_batches):
            try:
                batch = _sequence_batch(limit, key_backend, max_age)
            except IntegrityError:  # another process sequenced the same events first (SQLite: no advisory lock)
                log.info("audit sequencer: lost a race for the next leaves; retrying later")
                return total
            if batch is None:
                return total
            total += batch.sequenced
            if batch.sequenced:
                log.debug(
                    "audit sequencer: %d events, tree size %d, lag %d ms",
                    batch.sequenced,
                    batch.tree_size,
                    batch.max_lag_ms,
                )
            if batch.sequenced < limit:
                return total
    finally:
        if local:
            _local_lock.release()
    return total
