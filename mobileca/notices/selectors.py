"""Reads of notices and customer-service messages."""

from __future__ import annotations

from django.db.models import QuerySet

from mobileca.notices.models import SupportRequest


def support_request_list_for_backoffice() -> QuerySet[SupportRequest]:
    """Every customer-service message with its enterprise and author: open ones (not answered) first, newest first."""
    return SupportRequest.objects.select_related("enterprise", "user").order_by("answered_at", "-created_at")
