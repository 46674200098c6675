"""One-statement inserts for the write paths: ``INSERT … ON CONFLICT DO NOTHING RETURNING id``.

A unique violation inside a transaction aborts it on PostgreSQL, so "insert, or learn that it is there" used to
need a savepoint around the insert (two more round trips). This asks the database instead: the row's id when it was
inserted, ``None`` when a unique constraint already held its key. Same statement on SQLite (3.35+).
"""

from __future__ import annotations

from django.db import connections, router
from django.db.models import Model
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery


def insert_unless_conflict(obj: Model) -> int | None:
    """Insert ``obj`` (its primary key left to the database); its new id, or ``None`` if a unique constraint
    refused it (nothing written). The id is also set on ``obj``."""
    model = type(obj)
    using = router.db_for_write(model)
    fields = [field for field in model._meta.local_concrete_fields if not field.primary_key]
    query = InsertQuery(model, on_conflict=OnConflict.IGNORE)
    query.insert_values(fields, [obj])
    compiler = query.get_compiler(using=using)
    compiler.returning_fields = [model._meta.pk]
    [(sql, params)] = compiler.as_sql()
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    obj.pk = int(row[0])
    obj._state.adding, obj._state.db = False, using
    return obj.pk
