"""Small request facts shared by the views."""

from __future__ import annotations

from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    """The network address the request came from, as the operation records keep it (``REMOTE_ADDR``)."""
    return request.META.get("REMOTE_ADDR") or None
