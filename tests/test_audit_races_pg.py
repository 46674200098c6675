"""The audit log under concurrency on PostgreSQL (issue 15): writers share no row and never wait for each other,
one sequencer works at a time, and an event whose transaction commits late is still sequenced, never skipped."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from mobileca.audit import sequencer
from mobileca.audit.models import AuditEvent, TreeHead
from mobileca.audit.sequencer import audit_sequence
from mobileca.audit.services import Actor, audit_record
from mobileca.audit.verify import audit_verify
from tests.races import Holder, in_thread

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ACTOR = Actor("system", "race")


def _append(subject: str) -> int:
    with transaction.atomic():
        return audit_record(action="race.event", subject=subject, actor=ACTOR).pk


def test_a_writer_does_not_wait_for_another_writers_open_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """The old chain locked one head row until commit; now a second change commits while the first is still open."""
    holder = Holder(lambda event: event)
    results: dict[str, object] = {}

    def slow_writer() -> int:
        with transaction.atomic():
            event = audit_record(action="race.slow", subject="slow:1", actor=ACTOR)
            holder(event)  # still inside the transaction, its event inserted, not committed
            return event.pk

    slow = in_thread(slow_writer, results, "slow")
    assert holder.holding.wait(timeout=10)
    fast = in_thread(lambda: _append("fast:1"), results, "fast")
    fast.join(timeout=10)
    assert not fast.is_alive() and isinstance(results["fast"], int)  # committed while the slow one is open
    assert list(AuditEvent.objects.values_list("subject", flat=True)) == ["fast:1"]
    holder.release.set()
    slow.join(timeout=10)
    assert set(AuditEvent.objects.values_list("subject", flat=True)) == {"fast:1", "slow:1"}


def test_an_event_committed_late_is_sequenced_after_the_ones_that_overtook_it() -> None:
    holder = Holder(lambda event: event)
    results: dict[str, object] = {}

    def late_writer() -> int:
        with transaction.atomic():
            event = audit_record(action="race.late", subject="late:1", actor=ACTOR)
            holder(event)
            return event.pk

    late = in_thread(late_writer, results, "late")
    assert holder.holding.wait(timeout=10)
    _append("early:1")
    assert audit_sequence() == 1  # the open transaction's event is invisible, and not skipped over either
    holder.release.set()
    late.join(timeout=10)
    assert audit_sequence() == 1
    leaves = dict(AuditEvent.objects.values_list("subject", "leaf_index"))
    assert leaves == {"early:1": 0, "late:1": 1}
    assert int(results["late"]) < AuditEvent.objects.get(subject="early:1").pk  # type: ignore[call-overload]
    assert audit_verify().ok


def test_one_sequencer_at_a_time_and_the_other_does_not_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    for index in range(5):
        _append(f"event:{index}")
    holder = Holder(sequencer._assign_leaves)
    monkeypatch.setattr(sequencer, "_assign_leaves", holder)
    results: dict[str, object] = {}
    first = in_thread(audit_sequence, results, "first")
    assert holder.holding.wait(timeout=10)

    second_done = threading.Event()

    def second() -> int:
        try:
            return audit_sequence()
        finally:
            second_done.set()

    other = in_thread(second, results, "second")
    assert second_done.wait(timeout=10), "the second sequencer waited for the first"
    assert results["second"] == 0  # the advisory lock is taken: it leaves the work to the first
    holder.release.set()
    first.join(timeout=10)
    other.join(timeout=10)
    assert results["first"] == 5
    assert list(AuditEvent.objects.order_by("leaf_index").values_list("leaf_index", flat=True)) == [0, 1, 2, 3, 4]
    assert TreeHead.objects.filter(tree_size=5).count() == 1 and audit_verify().ok


def test_sixteen_writers_and_two_sequencers_at_once_make_one_consistent_log() -> None:
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(slot: int) -> None:
        try:
            for index in range(15):
                _append(f"writer{slot}:{index}")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    def sequencing() -> None:
        try:
            while not stop.is_set():
                audit_sequence()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    sequencers = [threading.Thread(target=sequencing) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(slot,)) for slot in range(16)]
    for thread in sequencers + writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=60)
    stop.set()
    for thread in sequencers:
        thread.join(timeout=60)
    assert not errors, errors
    audit_sequence()
    leaves = list(AuditEvent.objects.order_by("leaf_index").values_list("leaf_index", flat=True))
    assert leaves == list(range(16 * 15))
    report = audit_verify()
    assert report.ok and report.leaves == 240, report.problems
    sizes = list(TreeHead.objects.order_by("id").values_list("tree_size", flat=True))
    assert sizes == sorted(sizes) and sizes[-1] == 240  # heads only ever grow
