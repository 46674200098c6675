"""The signing service's phone (H5) pages. What a scan of the claim QR code opens."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from mobileca.core.clock import now
from mobileca.shield.models import ClaimStatus
from mobileca.shield.services import claim_by_ticket


def h5_claim(request: HttpRequest, ticket: str) -> HttpResponse:
    """The landing page of a scanned QR code: which enterprise, which platform, and whether the code still works."""
    claim = claim_by_ticket(ticket=ticket)
    expired = claim.status == ClaimStatus.WAITING and now() >= claim.ticket_expires_at
    return render(request, "shield/h5_claim.html", {"claim": claim, "expired": expired})
