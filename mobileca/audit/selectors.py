"""Audit reads: an enterprise's trail for customer service, the whole log for the auditor's export."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import F, QuerySet

from mobileca.audit.models import AuditEvent


def audit_event_list_for_enterprise(*, enterprise_id: int) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(enterprise_id=enterprise_id).order_by("-id")


def audit_event_iter_log(*, chunk_size: int = 2000) -> Iterator[AuditEvent]:
    """Every event in leaf order (those the sequencer has not reached yet last, by id), streamed."""
    return AuditEvent.objects.order_by(F("leaf_index").asc(nulls_last=True), "id").iterator(chunk_size=chunk_size)
