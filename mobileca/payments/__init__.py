"""Payments (R1.6, R1.7): one payment attempt per order and channel, the notification inbox, offline remittance
with vouchers, bank-statement reconciliation, the claim queue, and auto-close.

Every observation of money (a finance confirmation, a statement line, later a gateway notification or query)
goes through ``services.payment_observe``: it locks the order and the payment, records the observation in the
inbox (unique per channel and event), and applies the transitions table, so a payment is applied exactly once.
"""
