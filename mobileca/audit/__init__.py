"""The audit log: append-only, and a Merkle-tree transparency log in the manner of RFC 9162.

Every state transition in the platform writes one event inside the transaction that makes the change (one INSERT,
no shared row), so the log and the data can never disagree. The sequencer gives committed events their leaves and
signs tree heads with the log key; anyone holding a tree head can check an inclusion proof for an event and a
consistency proof between two heads (``/transparency/v1/``). ``manage.py audit_verify`` recomputes everything and
names the first bad leaf.
"""
