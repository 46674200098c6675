"""Bidding reads for the tender agent's back-office pages."""

from __future__ import annotations

from django.db.models import QuerySet

from mobileca.bidding.models import Bid, BidStatus, Tender


def tender_list_recent() -> QuerySet[Tender]:
    return Tender.objects.order_by("-bid_deadline")


def bid_list_for_opening(*, tender: Tender) -> QuerySet[Bid]:
    """The opening overview: every bid not withdrawn, with its enterprise, by enterprise name."""
    return tender.bids.select_related("enterprise").exclude(status=BidStatus.WITHDRAWN).order_by("enterprise__name")
