"""The auditor: verify the whole hash chain now, and export it (CSV, streamed)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render

from mobileca.audit.selectors import audit_event_iter_chain
from mobileca.audit.services import audit_chain_verify
from mobileca.backoffice.roles import auditor_required

EXPORT_COLUMNS = ["seq", "occurred_at", "actor", "action", "subject", "enterprise_id", "data", "prev_hash", "hash"]


@auditor_required
def audit(request: HttpRequest) -> HttpResponse:
    report = audit_chain_verify() if request.method == "POST" else None
    return render(request, "backoffice/audit.html", {"bo_active": "audit", "report": report})


@auditor_required
def audit_export(request: HttpRequest) -> HttpResponseBase:
    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(EXPORT_COLUMNS)
        for event in audit_event_iter_chain():
            writer.writerow(
                [event.seq, event.occurred_at.isoformat(), event.actor, event.action, event.subject,
                 event.enterprise_id or "", json.dumps(event.data, ensure_ascii=False), event.prev_hash, event.hash]
            )  # fmt: skip
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit-chain.csv"'
    return response
