"""Physical-CA reads: the reviewer's queue of applications and the shipments waiting for dispatch."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from mobileca.core.errors import NotFound
from mobileca.physical.models import Application, ApplicationStatus, Shipment


def application_list_for_review(*, status: str) -> QuerySet[Application]:
    rows = Application.objects.select_related("enterprise").order_by("submitted_at")
    return rows.filter(status=status) if status in ApplicationStatus.values else rows


def application_get(*, application_id: int) -> Application:
    application = Application.objects.filter(pk=application_id).first()
    if application is None:
        raise NotFound(_("未找到该申请"), code="application_unknown")
    return application


def shipment_list_to_dispatch() -> QuerySet[Shipment]:
    return (
        Shipment.objects.select_related("enterprise")
        .filter(dispatched_at__isnull=True, cancelled_at__isnull=True)
        .order_by("created_at")
    )


def application_for_enterprise(*, enterprise_id: int) -> Application | None:
    return Application.objects.filter(enterprise_id=enterprise_id).first()


def shipment_list_for_enterprise(*, enterprise_id: int) -> QuerySet[Shipment]:
    return Shipment.objects.filter(enterprise_id=enterprise_id).order_by("-created_at")
