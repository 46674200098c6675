"""``audit_verify``: recompute the whole tree from the events and check everything the log has ever claimed.

* every sequenced event, in leaf order, hashes to the stored leaf (so an edited, deleted, reordered or inserted
  row is named by the first leaf it disturbs);
* every stored perfect node is the hash of its children (the proofs served are built from them);
* every signed tree head's root is the recomputed root at its size, its signature verifies with its log key, and
  the log key is the one the key back-end holds;
* no leaf lies beyond the latest signed head, and no head covers leaves that are not there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from mobileca.audit import merkle
from mobileca.audit.models import AuditEvent, LogKey, TreeHead
from mobileca.audit.proofs import signed, stored_nodes
from mobileca.audit.services import canonical_entry
from mobileca.ca.backends import KeyBackend, KeyBackendError
from mobileca.ca.backends.factory import backend as configured_backend

CHUNK = 1000


@dataclass
class VerifyReport:
    leaves: int = 0
    heads: int = 0
    pending: int = 0
    bad_leaf: int | None = None
    reason: str = "ok"
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, reason: str, leaf: int | None = None) -> None:
        if not self.problems:
            self.reason, self.bad_leaf = reason, leaf
        self.problems.append(reason)


def _chunks() -> Iterator[list[AuditEvent]]:
    chunk: list[AuditEvent] = []
    for event in AuditEvent.objects.filter(leaf_index__isnull=False).order_by("leaf_index").iterator(chunk_size=CHUNK):
        chunk.append(event)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _check_log_keys(report: VerifyReport, key_backend: KeyBackend | None) -> None:
    from cryptography.hazmat.primitives import serialization

    keys = key_backend or configured_backend()
    for log_key in LogKey.objects.all():
        try:
            held = keys.signing_key(log_key.key_label).public_key()
        except (KeyBackendError, AttributeError) as exc:
            report.fail(f"log key {log_key.key_id[:16]}: not in the key back-end ({exc})")
            continue
        der = held.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if der != bytes(log_key.public_key_der):
            report.fail(f"log key {log_key.key_id[:16]}: the stored public key is not the back-end's key")


def audit_verify(*, key_backend: KeyBackend | None = None) -> VerifyReport:
    report = VerifyReport(pending=AuditEvent.objects.filter(leaf_index__isnull=True).count())
    _check_log_keys(report, key_backend)
    heads = list(TreeHead.objects.select_related("log_key").order_by("tree_size", "id"))
    keys = {log_key.pk: bytes(log_key.public_key_der) for log_key in LogKey.objects.all()}
    for head in heads:
        if not signed(head).verify(keys[head.log_key_id]):
            report.fail(f"tree head of size {head.tree_size} (#{head.pk}): the signature does not verify")
    report.heads = len(heads)
    head_at = 0
    while head_at < len(heads) and heads[head_at].tree_size == 0:
        if bytes(heads[head_at].root_hash) != merkle.EMPTY_ROOT:
            report.fail("tree head of size 0: not the empty tree's root")
        head_at += 1

    appender = merkle.Appender(0, [])
    for chunk in _chunks():
        computed: list[tuple[int, int, bytes]] = []
        roots: list[tuple[TreeHead, bytes]] = []  # checked after the nodes, so a bad leaf is named as such
        for event in chunk:
            expected = appender.size
            if event.leaf_index != expected:
                report.fail(f"leaf #{expected} is missing (the next leaf present is #{event.leaf_index})", expected)
                return _finish(report, appender, heads, head_at)
            computed.extend(appender.append(merkle.leaf_hash(canonical_entry(event))))
            while head_at < len(heads) and heads[head_at].tree_size == appender.size:
                roots.append((heads[head_at], appender.root()))
                head_at += 1
        stored = stored_nodes(((level, index) for level, index, _ in computed), strict=False)
        for level, index, value in computed:
            if stored.get((level, index)) == value:
                continue
            first_leaf = index << level
            if level == 0:
                report.fail(
                    f"leaf #{index}: the event does not match its leaf hash (changed, moved or inserted)", index
                )
            elif (level, index) not in stored:
                report.fail(f"tree node {level}/{index} is missing", first_leaf)
            else:
                report.fail(f"tree node {level}/{index} does not match its children", first_leaf)
            return _finish(report, appender, heads, head_at)
        for head, root in roots:
            if bytes(head.root_hash) != root:
                report.fail(f"tree head of size {head.tree_size}: its root is not the root of the events")
    return _finish(report, appender, heads, head_at)


def _finish(report: VerifyReport, appender: merkle.Appender, heads: list[TreeHead], head_at: int) -> VerifyReport:
    report.leaves = appender.size
    latest = heads[-1].tree_size if heads else 0
    if report.ok and head_at < len(heads):
        report.fail(
            f"tree head of size {heads[head_at].tree_size} covers leaves that are not in the log "
            f"(only {appender.size} are)",
            appender.size,
        )
    if report.ok and appender.size > latest:
        report.fail(f"leaf #{latest} and after are not covered by any signed tree head", latest)
    return report
