"""Signed tree heads: the bytes the log key signs and their check, with no Django in it (the command-line tool uses
it as it is).

What is signed is RFC 9162 §4.9's ``TreeHeadDataV2`` in TLS presentation (big-endian): ``uint64 timestamp`` (ms since
the epoch), ``uint64 tree_size``, ``opaque root_hash<32..2^8-1>`` (one length byte, then the hash) and an empty
``Extension sth_extensions<0..2^16-1>`` (two zero bytes). The signature is ECDSA P-256 with SHA-256, DER-encoded
(RFC 9162 §1.2 allows ECDSA P-256; the log is identified by the SHA-256 of its SubjectPublicKeyInfo, as RFC 6962
§3.2's key id, instead of an OID).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

SIGNATURE_ALGORITHM = ec.ECDSA(hashes.SHA256())


def tree_head_data(*, timestamp_ms: int, tree_size: int, root_hash: bytes) -> bytes:
    """``TreeHeadDataV2`` with no extensions: what the log key signs."""
    if len(root_hash) != 32:
        raise ValueError("a root hash has 32 bytes")
    return struct.pack(">QQB", timestamp_ms, tree_size, len(root_hash)) + root_hash + b"\x00\x00"


def key_id(public_key_der: bytes) -> str:
    return hashlib.sha256(public_key_der).hexdigest()


@dataclass(frozen=True)
class SignedTreeHead:
    tree_size: int
    timestamp_ms: int
    root_hash: bytes
    signature: bytes
    key_id: str

    def signed_bytes(self) -> bytes:
        return tree_head_data(timestamp_ms=self.timestamp_ms, tree_size=self.tree_size, root_hash=self.root_hash)

    def verify(self, public_key_der: bytes) -> bool:
        """Whether the head is signed by the log key whose SubjectPublicKeyInfo is ``public_key_der``."""
        if key_id(public_key_der) != self.key_id or len(self.root_hash) != 32:
            return False
        public_key = serialization.load_der_public_key(public_key_der)
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            return False
        try:
            public_key.verify(self.signature, self.signed_bytes(), SIGNATURE_ALGORITHM)
        except InvalidSignature:
            return False
        return True

    def as_json(self) -> dict[str, object]:
        """The JSON form served at ``/transparency/v1/sth`` (hashes and signature base64, as RFC 6962 §4.3)."""
        import base64

        return {
            "tree_size": self.tree_size,
            "timestamp": self.timestamp_ms,
            "sha256_root_hash": base64.b64encode(self.root_hash).decode(),
            "tree_head_signature": base64.b64encode(self.signature).decode(),
            "log_id": self.key_id,
        }

    @classmethod
    def from_json(cls, document: dict[str, object]) -> SignedTreeHead:
        """The inverse of ``as_json``; ``ValueError`` for anything malformed."""
        import base64
        import binascii

        try:
            size, timestamp = document["tree_size"], document["timestamp"]
            if not isinstance(size, int) or not isinstance(timestamp, int) or size < 0 or timestamp < 0:
                raise ValueError("tree_size and timestamp must be non-negative integers")
            return cls(
                tree_size=size,
                timestamp_ms=timestamp,
                root_hash=base64.b64decode(str(document["sha256_root_hash"]), validate=True),
                signature=base64.b64decode(str(document["tree_head_signature"]), validate=True),
                key_id=str(document["log_id"]),
            )
        except (KeyError, binascii.Error) as exc:
            raise ValueError(f"malformed tree head: {exc}") from exc
