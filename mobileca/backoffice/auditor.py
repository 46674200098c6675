"""The auditor: recompute the whole transparency log now (every leaf, node and signed tree head), see how far the
sequencer lags, and export the events (CSV, streamed, in leaf order)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render

from mobileca.audit.proofs import latest_tree_head
from mobileca.audit.selectors import audit_event_iter_log
from mobileca.audit.verify import audit_verify
from mobileca.backoffice.roles import auditor_required

EXPORT_COLUMNS = ["leaf_index", "id", "occurred_at", "actor", "action", "subject", "enterprise_id", "data", "salt"]


@auditor_required
def audit(request: HttpRequest) -> HttpResponse:
    report = audit_verify() if request.method == "POST" else None
    context = {"bo_active": "audit", "report": report, "head": latest_tree_head()}
    return render(request, "backoffice/audit.html", context)


@auditor_required
def audit_export(request: HttpRequest) -> HttpResponseBase:
    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(EXPORT_COLUMNS)
        for event in audit_event_iter_log():
            writer.writerow(
                ["" if event.leaf_index is None else event.leaf_index, event.pk, event.occurred_at.isoformat(),
                 event.actor, event.action, event.subject, event.enterprise_id or "",
                 json.dumps(event.data, ensure_ascii=False), event.salt]
            )  # fmt: skip
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
    return response
