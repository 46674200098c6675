"""Payments (R1.6, R1.7): one payment attempt per order and channel, the notification inbox, offline remittance
with vouchers, bank-statement reconciliation, the claim queue, refunds, and auto-close.

Every observation of money (a finance confirmation, a statement line, a gateway notification or query, the close
of an expired order) goes through ``observe.payment_observe``: it locks the order and the payment, records the
observation in the inbox (unique per channel and event), and applies the transitions table, so a payment is applied
exactly once. Each status field has one writer (``transitions``); each channel one implementation of the
``channels.Channel`` interface. Other parts come in through ``services`` and ``selectors``.
"""
