"""Audit reads: an enterprise's trail for customer service, the whole chain for the auditor's export."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet

from mobileca.audit.models import AuditEvent


def audit_event_list_for_enterprise(*, enterprise_id: int) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(enterprise_id=enterprise_id).order_by("-seq")


def audit_event_iter_chain(*, chunk_size: int = 2000) -> Iterator[AuditEvent]:
    """Every event in chain order, streamed."""
    return AuditEvent.objects.order_by("seq").iterator(chunk_size=chunk_size)
