from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from mobileca.audit.canonical import canonical_json
from mobileca.audit.models import AuditEvent
from mobileca.core.clock import now


@dataclass(frozen=True)
class Actor:
    """Who did it: ``user:<id>``, ``operator:<id>`` or ``system:<job>``."""

    kind: str
    ident: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.ident}"


SYSTEM = Actor("system", "platform")


@dataclass(frozen=True)
class AuditEntry:
    """One event to append with ``audit_record_many``."""

    action: str
    subject: str
    actor: Actor
    enterprise_id: int | None = None
    data: dict[str, Any] | None = None


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change it records")


def _event(entry: AuditEntry, occurred_at: datetime) -> AuditEvent:
    return AuditEvent(
        occurred_at=occurred_at,
        actor=str(entry.actor),
        action=entry.action,
        subject=entry.subject,
        enterprise_id=entry.enterprise_id,
        data=json.loads(json.dumps(entry.data or {}, default=str)),  # what the JSON column will give back
        salt=secrets.token_hex(16),
    )


def audit_record(
    *,
    action: str,
    subject: str,
    actor: Actor,
    enterprise_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event: one INSERT in the transaction of the change it records, no shared row. The sequencer
    (``mobileca.audit.sequencer``) gives it its leaf in the tree once the transaction has committed."""
    _require_transaction()
    event = _event(AuditEntry(action, subject, actor, enterprise_id, data), now())
    event.save(force_insert=True)
    return event


def audit_record_many(entries: Sequence[AuditEntry]) -> list[AuditEvent]:
    """Append several events of one change with a single INSERT, in the order given."""
    _require_transaction()
    moment = now()
    return AuditEvent.objects.bulk_create([_event(entry, moment) for entry in entries])


def canonical_entry(event: AuditEvent) -> bytes:
    """The bytes a leaf hashes: the event as RFC 8785 canonical JSON. Served as is with its proofs, so anyone can
    hash it again without knowing how the platform stores events."""
    return canonical_json(
        {
            "v": 1,
            "id": event.pk,
            "at": event.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": event.actor,
            "action": event.action,
            "subject": event.subject,
            "enterprise": event.enterprise_id,
            "data": event.data,
            "salt": event.salt,
        }
    )
