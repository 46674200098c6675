"""The audit log: append-only, each event hash-chained to the one before it.

Every state transition in the platform writes one event inside the transaction that makes the change, so the log
and the data can never disagree. ``manage.py audit_verify`` recomputes the chain and names the first broken link.
"""
