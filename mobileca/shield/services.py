"""Former home of the claim writes, kept only so that callers not yet switched keep importing from here: the claim
steps are ``claims.py``, the SMS code ``otp.py``, the PIN ``pin.py``. New code imports those modules."""

from __future__ import annotations

from mobileca.shield.claims import (
    add_months,
    claim_accept_agreements,
    claim_activate,
    claim_bind,
    claim_by_ticket,
    claim_choose_enterprise_service,
    claim_of_claimant_locked,
    claim_open,
    claim_refresh,
    claim_request_approval,
    enterprise_create,
    face_check_finish,
    face_check_start,
    phone_account_record,
)
from mobileca.shield.otp import sms_code_send, sms_code_verify
from mobileca.shield.pin import pin_problem
from mobileca.shield.sealing import resident_id_digest

__all__ = [
    "add_months",
    "claim_accept_agreements",
    "claim_activate",
    "claim_bind",
    "claim_by_ticket",
    "claim_choose_enterprise_service",
    "claim_of_claimant_locked",
    "claim_open",
    "claim_refresh",
    "claim_request_approval",
    "enterprise_create",
    "face_check_finish",
    "face_check_start",
    "phone_account_record",
    "pin_problem",
    "resident_id_digest",
    "sms_code_send",
    "sms_code_verify",
]
