"""The audit log's bulk writer as the order, payment and card write paths use it: the several events of one change
in one INSERT (``audit_record_many``). Until the audit log provides it, the same API falls back to one
``audit_record`` each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

try:
    from mobileca.audit.services import AuditEntry, audit_record_many  # type: ignore[attr-defined,unused-ignore]
except ImportError:  # pragma: no cover - the audit log without its bulk writer
    from mobileca.audit.models import AuditEvent
    from mobileca.audit.services import Actor, audit_record

    @dataclass(frozen=True)
    class AuditEntry:  # type: ignore[no-redef,unused-ignore]
        action: str
        subject: str
        actor: Actor
        enterprise_id: int | None = None
        data: dict[str, Any] | None = None

    def audit_record_many(entries: Sequence[AuditEntry]) -> list[AuditEvent]:  # type: ignore[misc,unused-ignore]
        return [
            audit_record(
                action=entry.action,
                subject=entry.subject,
                actor=entry.actor,
                enterprise_id=entry.enterprise_id,
                data=entry.data,
            )
            for entry in entries
        ]


__all__ = ["AuditEntry", "audit_record_many"]
