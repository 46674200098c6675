"""The payments part's way in for other parts: its writes, each in the module of its job.

* ``checkout``      — the order and its payment attempt (「确认并支付」)
* ``observe``       — the one observation writer (notifications, queries, confirmations, statement credits, close)
* ``transitions``   — the one writer of each status field (payment, statement line, voucher)
* ``remittance``    — offline remittance: vouchers, finance's confirmation and rejection
* ``statements``    — bank-statement import, matching, the claim queue, returning credits
* ``refunds``       — refunds, through either of finance's doors, once
* ``channels``      — one interface per payment channel (Alipay, WeChat Pay, offline) and ``channel_for``
* ``opening``, ``notifications``, ``query`` — the online channels: the QR code or page-pay URL, the gateways'
  notifications, the active query (``online`` holds their HTTP client and configurations)
* ``closing``       — closing expired orders, with the close policy every channel follows
* ``cancelling``    — the buyer's 「取消订单」 of an unpaid order, after the same close at the gateway
"""

from __future__ import annotations

from mobileca.payments.cancelling import order_cancel_by_buyer
from mobileca.payments.checkout import checkout
from mobileca.payments.closing import payments_close_expired
from mobileca.payments.observe import Observation, Outcome, payment_observe
from mobileca.payments.refunds import payment_refund, refund_refusal
from mobileca.payments.remittance import (
    MAX_VOUCHERS_PER_PAYMENT,
    open_voucher,
    remittance_confirm,
    remittance_confirm_refusal,
    remittance_voucher_reject,
    remittance_voucher_upload,
)
from mobileca.payments.selectors import access_offline_payment
from mobileca.payments.statements import (
    ImportResult,
    statement_claim_refusal,
    statement_import,
    statement_line_claim,
    statement_line_match,
    statement_line_return,
    statement_parse,
    statement_return_refusal,
)

__all__ = [
    "MAX_VOUCHERS_PER_PAYMENT",
    "ImportResult",
    "Observation",
    "Outcome",
    "access_offline_payment",
    "checkout",
    "open_voucher",
    "order_cancel_by_buyer",
    "payment_observe",
    "payment_refund",
    "payments_close_expired",
    "refund_refusal",
    "remittance_confirm",
    "remittance_confirm_refusal",
    "remittance_voucher_reject",
    "remittance_voucher_upload",
    "statement_claim_refusal",
    "statement_import",
    "statement_line_claim",
    "statement_line_match",
    "statement_line_return",
    "statement_parse",
    "statement_return_refusal",
]
