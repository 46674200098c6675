"""The reviewer: 「CA 办理申请」 review (approve or return) and the dispatch of paid physical CAs (R1.3)."""

from __future__ import annotations

from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from mobileca.backoffice.roles import operator_of, reviewer_required
from mobileca.core.errors import ApplicationError
from mobileca.physical import services
from mobileca.physical.models import ApplicationStatus
from mobileca.physical.selectors import application_get, application_list_for_review, shipment_list_to_dispatch


@reviewer_required
def review_list(request: HttpRequest) -> HttpResponse:
    wanted = request.GET.get("status", ApplicationStatus.SUBMITTED)
    return render(
        request,
        "physical/review_list.html",
        {
            "bo_active": "applications",
            "applications": application_list_for_review(status=wanted)[:200],
            "status": wanted,
            "shipments": shipment_list_to_dispatch()[:200],
        },
    )


def _refused(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    return render(
        request, "physical/review_error.html", {"bo_active": "applications", "error": exc.message}, status=exc.status
    )


@reviewer_required
def review_decide(request: HttpRequest, application_id: int) -> HttpResponse:
    if request.method == "POST":
        try:
            if request.POST.get("decision") == "approve":
                services.application_approve(application_id=application_id, reviewer=operator_of(request))
            else:
                services.application_return(
                    application_id=application_id, reviewer=operator_of(request), reason=request.POST.get("reason", "")
                )
        except ApplicationError as exc:
            return _refused(request, exc)
    return redirect("physical_review:review_list")


@reviewer_required
def review_licence(request: HttpRequest, application_id: int) -> FileResponse:
    application = application_get(application_id=application_id)
    response = FileResponse(application.licence.open("rb"), content_type=application.licence_content_type)
    response["Content-Disposition"] = "inline"
    return response


@reviewer_required
def dispatch(request: HttpRequest, shipment_id: int) -> HttpResponse:
    if request.method == "POST":
        try:
            services.shipment_dispatch(
                shipment_id=shipment_id,
                operator=operator_of(request),
                courier=request.POST.get("courier", ""),
                tracking_no=request.POST.get("tracking_no", ""),
            )
        except ApplicationError as exc:
            return _refused(request, exc)
    return redirect("physical_review:review_list")
