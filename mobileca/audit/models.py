"""The audit log as a Merkle-tree transparency log (RFC 9162).

* ``AuditEvent``: one row per fact, inserted by the transaction that makes the change; its id comes from the
  table's sequence, so writers share no row. ``leaf_index`` is empty until the sequencer gives the event its place
  in the tree; after that nothing about the row changes (PostgreSQL enforces it with a trigger).
* ``AuditNode``: every perfect subtree's hash (level 0: the leaf hashes), written once when its last leaf arrives.
  Any inclusion or consistency proof, for any tree size, is a few of these.
* ``TreeHead``: a signed tree head: size, root hash, time, the log key's signature.
* ``LogKey``: the log's signing key, held by the CA's key back-end (key file or PKCS#11 token); only its public key
  and label are stored here.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q


class AuditEvent(models.Model):
    occurred_at = models.DateTimeField()
    actor = models.CharField(max_length=80)
    action = models.CharField(max_length=80)
    subject = models.CharField(max_length=120, db_index=True)
    enterprise_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    data = models.JSONField(default=dict)
    # 16 random bytes (hex) hashed into the leaf, shown only to whoever may read the event: a published leaf hash
    # cannot be confirmed by guessing a low-entropy event ("operation.sign by phone X at 10:02").
    salt = models.CharField(max_length=32)
    leaf_index = models.BigIntegerField(null=True, blank=True, unique=True)

    class Meta:
        ordering = ["id"]
        permissions = [("verify_audit_chain", "审计：校验并导出审计链")]
        indexes = [
            # The sequencer's queue: the (few) events not yet in the tree, without scanning the ones that are.
            models.Index(fields=["id"], name="audit_event_unsequenced", condition=Q(leaf_index__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.subject}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise RuntimeError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise RuntimeError("audit events are append-only")


class AuditNode(models.Model):
    pk = models.CompositePrimaryKey("level", "index")
    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField(max_length=32)

    class Meta:
        indexes = [
            # /transparency/v1/proof-by-hash finds a leaf by its hash (RFC 6962 get-proof-by-hash)
            models.Index(fields=["hash"], name="audit_node_leaf_hash", condition=Q(level=0)),
        ]

    def __str__(self) -> str:
        return f"node {self.level}/{self.index}"


class LogKey(models.Model):
    key_backend = models.CharField(max_length=16)
    key_label = models.CharField(max_length=64, unique=True)
    public_key_der = models.BinaryField()
    key_id = models.CharField(max_length=64, unique=True)  # SHA-256 of the SubjectPublicKeyInfo, hex (RFC 6962 §3.2)
    created_at = models.DateTimeField()
    is_active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"log key {self.key_id[:16]}"


class TreeHead(models.Model):
    tree_size = models.BigIntegerField(db_index=True)
    root_hash = models.BinaryField(max_length=32)
    timestamp_ms = models.BigIntegerField()  # milliseconds since the epoch, as RFC 9162 §4.9
    signature = models.BinaryField()
    log_key = models.ForeignKey(LogKey, on_delete=models.PROTECT, related_name="tree_heads")
    # The longest wait, in this batch, from an event's commit to its inclusion (the sequencer's lag).
    max_lag_ms = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-tree_size", "-id"]

    def __str__(self) -> str:
        return f"tree head {self.tree_size}"
