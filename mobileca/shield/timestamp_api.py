"""CSC ``signatures/timestamp`` (CSC API v2 §11.13): an RFC 3161 time-stamp token for a hash, mounted on the CSC
API under ``/csc/v2/signatures/``. Not built yet: the time-stamping authority comes with issue 17."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["signatures"])
