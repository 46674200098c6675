"""Running work in several threads at once, for the tests that prove row locks on PostgreSQL: all released at the
same instant (``race``), or in a chosen order: one side held inside its transaction just after it took a lock
(``Holder``), the other started (``in_thread``) and seen waiting for that lock
(``wait_until_a_backend_waits_for_a_lock``) before the first is let go."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connection


def race(work: Callable[[], object], threads: int = 2) -> list[object]:
    """Run ``work`` in several threads released at the same instant; return each result or exception."""
    barrier = threading.Barrier(threads)
    results: list[object] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        try:
            outcome: object = work()
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            outcome = exc
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    return results


def wait_until_a_backend_waits_for_a_lock(*, on_table: str | None = None) -> None:
    """Block until another connection is waiting for a row lock (the race's second thread has reached it); with
    ``on_table``, waiting in a statement on that table."""
    sql = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    params: list[str] = []
    if on_table is not None:
        sql += " AND query LIKE %s"
        params.append(f'%"{on_table}"%')
    for _ in range(300):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if cursor.fetchone()[0]:
                return
        time.sleep(0.01)
    raise AssertionError("the second thread never waited for the lock")


class Holder:
    """Wraps a function called while a thread holds locks (a lock helper, or a step taken under them): the first
    thread to call it stops there, inside its transaction, until released; any later call passes straight through."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real, self.holding, self.release = real, threading.Event(), threading.Event()
        self._first = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = self.real(*args, **kwargs)
        if self._first.acquire(blocking=False):
            self.holding.set()
            assert self.release.wait(timeout=30)
        return result


def in_thread(work: Callable[[], object], results: dict[str, object], name: str) -> threading.Thread:
    """Start ``work`` in a thread of its own (its own connection); its result or exception lands in ``results``."""

    def run() -> None:
        try:
            results[name] = work()
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            results[name] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread
