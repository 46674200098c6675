"""Reading the log: the latest signed tree head and proofs against any tree size it has signed (RFC 9162 §2.1.3,
§2.1.4), assembled from the stored perfect nodes. Read-only; the sequencer is the only writer.

Served publicly under ``/transparency/v1/`` (``views.py``) and, with the entries themselves, to a claimant's tool
(``inclusion_proofs``: every record's audit path from one look-up of their nodes)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from mobileca.audit import merkle
from mobileca.audit.models import AuditNode, LogKey, TreeHead
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


def tree_head_json(head: TreeHead) -> dict[str, object]:
    """The head as served (RFC 6962 §4.3's fields), with the sequencer's lag behind it."""
    return {**signed(head).as_json(), "max_lag_ms": head.max_lag_ms}


def log_keys() -> list[LogKey]:
    """Every key that has signed heads of this log, the active one first."""
    return list(LogKey.objects.order_by("-is_active", "-created_at"))


def _signed_size(tree_size: int | None) -> int:
    latest = TreeHead.objects.order_by("-tree_size").values_list("tree_size", flat=True).first() or 0
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
    return size, merkle.inclusion_proof(leaf_index, size, stored_nodes)


def consistency_proof(first: int, second: int | None = None) -> tuple[int, list[bytes]]:
    """The proof that the tree of ``second`` leaves (the latest by default) extends the one of ``first``."""
    size = _signed_size(second)
    if not 0 <= first <= size:
        raise ProofUnavailable(f"no consistency proof from {first} to {size}")
    return size, merkle.consistency_proof(first, size, stored_nodes)


def tree_head_of_size(tree_size: int) -> TreeHead | None:
    """The latest signed head of exactly ``tree_size`` leaves (a tree may be re-signed while it does not grow)."""
    return TreeHead.objects.select_related("log_key").filter(tree_size=tree_size).order_by("-id").first()


def leaf_index_by_hash(leaf: bytes) -> int | None:
    """The index of the leaf whose hash is ``leaf`` (RFC 6962 §4.5 get-proof-by-hash), or ``None``."""
    if len(leaf) != merkle.HASH_SIZE:
        return None
    found = AuditNode.objects.filter(level=0, hash=leaf).order_by("index").values_list("index", flat=True).first()
    return int(found) if found is not None else None


def inclusion_proof_by_hash(leaf: bytes, tree_size: int) -> tuple[int, int, list[bytes]]:
    """The leaf index and audit path of the leaf hashed ``leaf`` in the signed tree of ``tree_size``."""
    size = _signed_size(tree_size)
    index = leaf_index_by_hash(leaf)
    if index is None or index >= size:
        raise ProofUnavailable(f"no leaf with this hash in the tree of size {size}")
    return index, size, merkle.inclusion_proof(index, size, stored_nodes)


LOOKUP_CHUNK = 500  # nodes per query: (level, index) pairs are two parameters each, well within every database's cap


def stored_nodes(nodes: Iterable[merkle.Node], *, strict: bool = True) -> dict[merkle.Node, bytes]:
    """Stored perfect nodes by (level, index): one query per ``LOOKUP_CHUNK`` nodes, joined to a ``VALUES`` list
    (on both databases), which costs a fraction of the ORM's OR of composite keys on the read path's every request.
    ``LookupError`` if one is missing (a damaged store: ``audit_verify`` names it), unless not ``strict``: then what
    is there (the verifier reports the rest)."""
    wanted = sorted(set(nodes))
    found: dict[merkle.Node, bytes] = {}
    table, index = AuditNode._meta.db_table, connection.ops.quote_name("index")
    with connection.cursor() as cursor:
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            values = ", ".join(["(%s, %s)"] * len(chunk))
            cursor.execute(
                f"SELECT n.level, n.{index}, n.hash FROM {table} AS n "  # noqa: S608 - no user input in the names
                f"JOIN (VALUES {values}) AS v ON n.level = v.column1 AND n.{index} = v.column2",
                [number for node in chunk for number in node],
            )
            found.update({(level, position): bytes(value) for level, position, value in cursor.fetchall()})
    if strict and len(found) != len(wanted):
        missing = sorted(set(wanted) - found.keys())
        raise LookupError(f"tree nodes missing from the store: {missing[:5]}")
    return found


def inclusion_proofs(leaf_indexes: Iterable[int], tree_size: int) -> dict[int, list[bytes]]:
    """The audit paths of several leaves in the signed tree of ``tree_size``, from one look-up of their nodes
    (one query per ``LOOKUP_CHUNK`` nodes, however many leaves): a claimant's records with their proofs."""
    size = _signed_size(tree_size)
    indexes = sorted(set(leaf_indexes))
    if any(not 0 <= index < size for index in indexes):
        raise ProofUnavailable(f"a leaf asked for is not in the tree of size {size}")
    plans = {index: merkle.inclusion_nodes(index, size) for index in indexes}
    found = stored_nodes(node for plan in plans.values() for nodes in plan for node in nodes)
    return {index: [merkle.fold([found[node] for node in nodes]) for nodes in plan] for index, plan in plans.items()}
