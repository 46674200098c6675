"""Helpers for the fuzz tests (issue 14): the Django application as an in-process WSGI app inside the test's
transaction, a record of the exception behind each server error, and a snapshot of what is stored."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import got_request_exception, request_finished, request_started
from django.db import close_old_connections, connection, transaction


@dataclass
class ServerErrors:
    """The exception (type and the first line of its message) behind every 500: what the traceback's last line says,
    without the context lines some database errors add."""

    seen: list[str] = field(default_factory=list)

    def record(self, sender: object, request: Any = None, **kwargs: object) -> None:
        error = sys.exc_info()[1]
        lines = str(error).strip().splitlines() if error is not None else []
        summary = f"{type(error).__module__}.{type(error).__qualname__}" if error is not None else "?"
        summary = summary.removeprefix("builtins.")
        where = f"{getattr(request, 'method', '?')} {getattr(request, 'path', '?')}"
        self.seen.append(f"{where}: {summary}: {lines[0] if lines else ''}".rstrip())

    def last(self) -> str:
        return self.seen[-1] if self.seen else "(no exception recorded)"


class _InProcess:
    """Django's WSGI handler, called in this thread on the test's own connection, as the test client does it: the
    request signals must not close the connection that holds the test's transaction (the test client connects them
    again after each of its own requests, so they are disconnected around every call)."""

    def __init__(self) -> None:
        self.handler = WSGIHandler()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            result = self.handler(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                if hasattr(result, "close"):
                    result.close()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)


@contextmanager
def in_process_app() -> Iterator[tuple[Callable[..., Any], ServerErrors]]:
    """The app as a WSGI callable and the record of the exceptions behind its server errors."""
    errors = ServerErrors()
    got_request_exception.connect(errors.record)
    try:
        yield _InProcess(), errors
    finally:
        got_request_exception.disconnect(errors.record)


def _digest(rows: list[tuple[Any, ...]]) -> str:
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def snapshot(*, skip: frozenset[str] = frozenset()) -> dict[str, tuple[int, str]]:
    """Every table's row count and a digest of its rows (ordered by primary key), except the tables in ``skip``;
    raw SQL on the test's connection, one query a table (the ORM would cost ten times as much per request)."""
    state: dict[str, tuple[int, str]] = {}
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in apps.get_models(include_auto_created=True):
            meta = model._meta
            if meta.db_table in skip or meta.proxy or not meta.managed or meta.db_table in state:
                continue
            order = ", ".join(quote(field.column) for field in meta.pk_fields)
            cursor.execute(f"SELECT * FROM {quote(meta.db_table)} ORDER BY {order}")  # noqa: S608
            rows = cursor.fetchall()
            state[meta.db_table] = (len(rows), _digest(rows))
    return state


def changed(before: dict[str, tuple[int, str]], after: dict[str, tuple[int, str]]) -> list[str]:
    """The tables whose rows differ: "+n" rows added, "-n" removed, "~" same count but rows changed."""
    found = []
    for table in sorted(set(before) | set(after)):
        if before.get(table) != after.get(table):
            delta = after.get(table, (0, ""))[0] - before.get(table, (0, ""))[0]
            found.append(f"{table} {'~' if delta == 0 else f'{delta:+d}'}")
    return found


@contextmanager
def rolled_back() -> Iterator[None]:
    """A savepoint that is always rolled back, so that each attempt starts from the same world. Marked like the
    test case's own blocks, so that the application's durable blocks inside it still open (as in any test)."""
    atomic = transaction.atomic()
    atomic._from_testcase = True  # type: ignore[attr-defined]
    with atomic:
        yield
        transaction.set_rollback(True)
