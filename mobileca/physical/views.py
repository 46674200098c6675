"""「CA 办理申请」 for the bidder; review and dispatch for the reviewer (back office)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mobileca.accounts.models import User
from mobileca.accounts.permissions import operator_required
from mobileca.accounts.selectors import access_enterprise_by_user
from mobileca.core.errors import ApplicationError, NotFound
from mobileca.physical import services
from mobileca.physical.models import Application, ApplicationStatus, Shipment

REVIEW_PERMISSION = "physical.review_application"
reviewer_required = operator_required(REVIEW_PERMISSION, message=gettext_lazy("仅审核人员可以访问此页面"))


@login_required
def apply(request: HttpRequest) -> HttpResponse:
    """The enterprise's application: the form (first time, or after a return), its status and reason, and the
    dispatch of paid physical-CA orders."""
    enterprise = access_enterprise_by_user(request.user)
    application = Application.objects.filter(enterprise=enterprise).first()
    error, status = "", 200
    if request.method == "POST":
        fields = {
            key: request.POST.get(key, "")
            for key in ("enterprise_name", "uscc", "legal_representative", "contact_name", "contact_phone", "address",
                        "key_count")
        }  # fmt: skip
        try:
            services.application_submit(
                enterprise=enterprise,
                user=_operator(request),
                fields=fields,
                licence=request.FILES.get("licence"),
            )
            return redirect("physical:apply")
        except ApplicationError as exc:
            error, status = exc.message, exc.status
    shipments = Shipment.objects.filter(enterprise=enterprise).order_by("-created_at")
    return render(
        request,
        "physical/apply.html",
        {
            "active": "apply",
            "application": application,
            "enterprise": enterprise,
            "editable": application is None or application.status == ApplicationStatus.RETURNED,
            "shipments": shipments,
            "error": error,
            "initial": _initial(request, application, enterprise) if not error else request.POST,
        },
        status=status,
    )


@login_required
def cancel(request: HttpRequest, shipment_id: int) -> HttpResponse:
    """「取消订单」 for a physical CA not yet dispatched; the money is refunded by finance."""
    enterprise = access_enterprise_by_user(request.user)
    if request.method == "POST":
        try:
            services.shipment_cancel(shipment_id=shipment_id, enterprise_id=enterprise.pk, user=_operator(request))
        except ApplicationError as exc:
            return render(request, "physical/review_error.html", {"error": exc.message}, status=exc.status)
    return redirect("physical:apply")


def _initial(request: HttpRequest, application: Application | None, enterprise: Any) -> dict[str, object]:
    if application is not None:
        return {
            key: getattr(application, key)
            for key in ("enterprise_name", "uscc", "legal_representative", "contact_name", "contact_phone", "address",
                        "key_count")
        }  # fmt: skip
    return {
        "enterprise_name": enterprise.name,
        "uscc": enterprise.uscc,
        "legal_representative": enterprise.legal_representative,
        "key_count": 1,
    }


def _operator(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@reviewer_required
def review_list(request: HttpRequest) -> HttpResponse:
    wanted = request.GET.get("status", ApplicationStatus.SUBMITTED)
    rows = Application.objects.select_related("enterprise").order_by("submitted_at")
    if wanted in ApplicationStatus.values:
        rows = rows.filter(status=wanted)
    pending = (
        Shipment.objects.select_related("enterprise")
        .filter(dispatched_at__isnull=True, cancelled_at__isnull=True)
        .order_by("created_at")
    )
    return render(
        request,
        "physical/review_list.html",
        {"bo_active": "applications", "applications": rows[:200], "status": wanted, "shipments": pending[:200]},
    )


@reviewer_required
def review_decide(request: HttpRequest, application_id: int) -> HttpResponse:
    if request.method == "POST":
        try:
            if request.POST.get("decision") == "approve":
                services.application_approve(application_id=application_id, reviewer=_operator(request))
            else:
                services.application_return(
                    application_id=application_id, reviewer=_operator(request), reason=request.POST.get("reason", "")
                )
        except ApplicationError as exc:
            return render(
                request,
                "physical/review_error.html",
                {"bo_active": "applications", "error": exc.message},
                status=exc.status,
            )
    return redirect("physical_review:review_list")


@reviewer_required
def review_licence(request: HttpRequest, application_id: int) -> FileResponse:
    application = Application.objects.filter(pk=application_id).first()
    if application is None:
        raise NotFound(_("未找到该申请"), code="application_unknown")
    response = FileResponse(application.licence.open("rb"), content_type=application.licence_content_type)
    response["Content-Disposition"] = "inline"
    return response


@reviewer_required
def dispatch(request: HttpRequest, shipment_id: int) -> HttpResponse:
    if request.method == "POST":
        try:
            services.shipment_dispatch(
                shipment_id=shipment_id,
                operator=_operator(request),
                courier=request.POST.get("courier", ""),
                tracking_no=request.POST.get("tracking_no", ""),
            )
        except ApplicationError as exc:
            return render(
                request,
                "physical/review_error.html",
                {"bo_active": "applications", "error": exc.message},
                status=exc.status,
            )
    return redirect("physical_review:review_list")
