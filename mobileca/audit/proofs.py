"""Reading the log: the latest signed tree head and proofs against any tree size it has signed (RFC 9162 §2.1.3,
§2.1.4), assembled from the stored perfect nodes. Read-only; the sequencer is the only writer."""

from __future__ import annotations

from mobileca.audit import merkle
from mobileca.audit.models import AuditEvent, LogKey, TreeHead
from mobileca.audit.sequencer import node_lookup
from mobileca.audit.services import canonical_entry
from mobileca.audit.treehead import SignedTreeHead


class ProofUnavailable(ValueError):
    """The proof asked for does not exist: a leaf outside the tree, a size larger than the latest signed head."""


def latest_tree_head() -> TreeHead | None:
    return TreeHead.objects.select_related("log_key").first()


def signed(head: TreeHead) -> SignedTreeHead:
    return SignedTreeHead(
        tree_size=head.tree_size,
        timestamp_ms=head.timestamp_ms,
        root_hash=bytes(head.root_hash),
        signature=bytes(head.signature),
        key_id=head.log_key.key_id,
    )


def log_keys() -> list[LogKey]:
    """Every key that has signed heads of this log, the active one first."""
    return list(LogKey.objects.order_by("-is_active", "-created_at"))


def _signed_size(tree_size: int | None) -> int:
    head = latest_tree_head()
    latest = head.tree_size if head else 0
    if tree_size is None:
        return latest
    if not 0 <= tree_size <= latest:
        raise ProofUnavailable(f"tree size {tree_size} is not covered by a signed tree head (latest {latest})")
    return tree_size


def inclusion_proof(leaf_index: int, tree_size: int | None = None) -> tuple[int, list[bytes]]:
    """The audit path of a leaf in the tree of ``tree_size`` (the latest signed one by default)."""
    size = _signed_size(tree_size)
    if not 0 <= leaf_index < size:
        raise ProofUnavailable(f"leaf {leaf_index} is not in the tree of size {size}")
    return size, merkle.inclusion_proof(leaf_index, size, node_lookup)


def consistency_proof(first: int, second: int | None = None) -> tuple[int, list[bytes]]:
    """The proof that the tree of ``second`` leaves (the latest by default) extends the one of ``first``."""
    size = _signed_size(second)
    if not 0 <= first <= size:
        raise ProofUnavailable(f"no consistency proof from {first} to {size}")
    return size, merkle.consistency_proof(first, size, node_lookup)


def leaf_hash(event: AuditEvent) -> bytes:
    return merkle.leaf_hash(canonical_entry(event))
