"""The tender agent: create tenders (项目编号, name, bid deadline, opening time) and follow their bids (R5)."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from mobileca.backoffice.roles import operator_of, tender_operator_required
from mobileca.bidding.selectors import bid_list_for_opening, tender_list_recent
from mobileca.bidding.services import tender_create, tender_get
from mobileca.core.errors import ApplicationError, InvalidInput


def _local_datetime(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else timezone.make_aware(parsed)


@tender_operator_required
def tenders(request: HttpRequest) -> HttpResponse:
    error, status = "", 200
    if request.method == "POST":
        deadline = _local_datetime(request.POST.get("bid_deadline", ""))
        opening = _local_datetime(request.POST.get("opening_at", ""))
        try:
            if deadline is None or opening is None:
                raise InvalidInput(_("请填写投标截止时间和开标时间"), code="tender_incomplete")
            tender_create(
                operator=operator_of(request),
                project_no=request.POST.get("project_no", ""),
                name=request.POST.get("name", ""),
                bid_deadline=deadline,
                opening_at=opening,
            )
            return redirect("backoffice:tenders")
        except ApplicationError as exc:
            error, status = exc.message, exc.status
    return render(
        request,
        "backoffice/tenders.html",
        {"bo_active": "tenders", "tenders": tender_list_recent()[:100], "error": error},
        status=status,
    )


@tender_operator_required
def tender_bids(request: HttpRequest, project_no: str) -> HttpResponse:
    """The opening overview: every bid with its state and, once opened, the result."""
    tender = tender_get(project_no)
    return render(
        request,
        "backoffice/tender_bids.html",
        {"bo_active": "tenders", "tender": tender, "bids": bid_list_for_opening(tender=tender)},
    )
