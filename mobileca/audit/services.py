from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from mobileca.audit.models import GENESIS_HASH, AuditEvent, AuditHead
from mobileca.core.clock import now


@dataclass(frozen=True)
class Actor:
    """Who did it: ``user:<id>``, ``operator:<id>`` or ``system:<job>``."""

    kind: str
    ident: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.ident}"


SYSTEM = Actor("system", "platform")


def event_digest(
    *,
    prev_hash: str,
    seq: int,
    occurred_at: datetime,
    actor: str,
    action: str,
    subject: str,
    enterprise_id: int | None,
    data: dict[str, Any],
) -> str:
    canonical = json.dumps(
        {
            "prev": prev_hash,
            "seq": seq,
            "at": occurred_at.isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "subject": subject,
            "enterprise": enterprise_id,
            "data": data,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def audit_record(
    *,
    action: str,
    subject: str,
    actor: Actor,
    enterprise_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. Must run inside the transaction of the change it records."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change it records")
    payload = json.loads(json.dumps(data or {}, default=str))  # what the JSON column will give back
    head, _ = AuditHead.objects.select_for_update().get_or_create(id=1)
    seq = head.seq + 1
    occurred_at = now()
    digest = event_digest(
        prev_hash=head.last_hash,
        seq=seq,
        occurred_at=occurred_at,
        actor=str(actor),
        action=action,
        subject=subject,
        enterprise_id=enterprise_id,
        data=payload,
    )
    event = AuditEvent.objects.create(
        seq=seq,
        occurred_at=occurred_at,
        actor=str(actor),
        action=action,
        subject=subject,
        enterprise_id=enterprise_id,
        data=payload,
        prev_hash=head.last_hash,
        hash=digest,
    )
    head.seq, head.last_hash = seq, digest
    head.save(update_fields=["seq", "last_hash"])
    return event


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_at: int | None
    reason: str

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def audit_chain_verify() -> ChainReport:
    prev_hash, expected_seq, checked = GENESIS_HASH, 1, 0
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=2000):
        if event.seq != expected_seq:
            return ChainReport(checked, event.seq, f"sequence gap: expected #{expected_seq}")
        if event.prev_hash != prev_hash:
            return ChainReport(checked, event.seq, "prev_hash does not match the previous event")
        recomputed = event_digest(
            prev_hash=event.prev_hash,
            seq=event.seq,
            occurred_at=event.occurred_at,
            actor=event.actor,
            action=event.action,
            subject=event.subject,
            enterprise_id=event.enterprise_id,
            data=event.data,
        )
        if recomputed != event.hash:
            return ChainReport(checked, event.seq, "content does not match its hash")
        prev_hash, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    head = AuditHead.objects.filter(id=1).first()
    if head is not None and (head.seq != checked or head.last_hash != prev_hash):
        return ChainReport(checked, head.seq, "the chain head does not match the last event (events removed)")
    return ChainReport(checked, None, "ok")
