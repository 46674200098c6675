"""「CA 办理申请」 for the bidder, and the cancellation of an undispatched physical-CA order. The reviewer's pages
are in ``backoffice.reviewer``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from mobileca.accounts.models import User
from mobileca.accounts.selectors import access_enterprise_by_user
from mobileca.core.errors import ApplicationError
from mobileca.physical import services
from mobileca.physical.models import Application, ApplicationStatus
from mobileca.physical.selectors import application_for_enterprise, shipment_list_for_enterprise


@login_required
def apply(request: HttpRequest) -> HttpResponse:
    """The enterprise's application: the form (first time, or after a return), its status and reason, and the
    dispatch of paid physical-CA orders."""
    enterprise = access_enterprise_by_user(request.user)
    application = application_for_enterprise(enterprise_id=enterprise.pk)
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
    shipments = shipment_list_for_enterprise(enterprise_id=enterprise.pk)
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
