"""Two-party SM2 (协同签名, issue 20): the signing service's half (``ServerShare``) and a reference phone half in
Python (``PhoneShare``: the tests, the benchmark's headless phone, the command-line tool's tests).

The key is split multiplicatively: the phone holds d1, the service d2, and the SM2 private key is
d = (d1·d2)^-1 − 1 mod n, which exists nowhere. The public key is P = (d1·d2)^-1·G − G; signatures are ordinary SM2
signatures under P, and ordinary SM2 ciphertexts to P are decrypted by the two halves together. The wire protocol
(messages, encodings, the hash of the proofs) is fixed in the project's issue 20 protocol text and repeated in the
method docstrings below; the phone page's JavaScript implements the same.

What each side checks:

* every received point is 65 bytes ``04||x||y`` (lowercase hex) on the curve (so not the identity); every received
  scalar is 64 lowercase hex digits in [1, n-1];
* the phone proves it knows the discrete logarithm of every point it sends (Schnorr; for decryption a DLEQ proof
  that T1 uses the same w as its key share P1), the challenge binding the service's single-use session string (and
  for signing the digest e), so a proof cannot be replayed into another round, for another digest or another
  ciphertext;
* decryption checks C3 in constant time and answers every ciphertext failure with one code.

Every refusal is a ``CosignRefused`` with a code (``bad_point``, ``bad_scalar``, ``bad_proof``, ``bad_ciphertext``;
the phone half also ``bad_signature``), carries no secret, and leaves no state: the service half keeps nothing
between calls (its per-round nonces k2, k3 live inside ``sign_round``). Keeping sessions single-use is the caller's
job (it issues them and marks them used).

Point arithmetic is the system OpenSSL's through ``sm2`` (secret scalars through its constant-time ladder); scalar
arithmetic mod n is on Python ints, randomness from ``secrets``. No Django here.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from mobileca.ca import sm2
from mobileca.ca.sm2 import N

KEYGEN_TAG = "mobileca-cosign-keygen-v1"
SIGN_TAG = "mobileca-cosign-sign-v1"
DECRYPT_TAG = "mobileca-cosign-decrypt-v1"

G = b"\x04" + sm2.GX.to_bytes(32, "big") + sm2.GY.to_bytes(32, "big")
MAX_PLAINTEXT = 1 << 16  # SM2 here carries content keys; a bigger C2 is refused before any work
_POINT_HEX = re.compile(r"04[0-9a-f]{128}")
_SCALAR_HEX = re.compile(r"[0-9a-f]{64}")


class CosignRefused(Exception):
    """A refused message or answer. ``code`` names the class of failure, never a secret."""

    CODES = ("bad_point", "bad_scalar", "bad_proof", "bad_ciphertext", "bad_signature")

    def __init__(self, code: str) -> None:
        assert code in self.CODES, code
        super().__init__(code)
        self.code = code


# --- encodings and the hash of the proofs -------------------------------------------------------------------------


def point_hex(point: bytes) -> str:
    return point.hex()


def scalar_hex(k: int) -> str:
    return k.to_bytes(32, "big").hex()


def parse_point(value: Any) -> bytes:
    """A received point: lowercase hex of ``04||x||y``, on the curve (so not the identity); else ``bad_point``."""
    if not isinstance(value, str) or not _POINT_HEX.fullmatch(value):
        raise CosignRefused("bad_point")
    point = bytes.fromhex(value)
    if not sm2.is_point(point):
        raise CosignRefused("bad_point")
    return point


def parse_scalar(value: Any) -> int:
    """A received scalar: 64 lowercase hex digits, in [1, n-1]; else ``bad_scalar``."""
    if not isinstance(value, str) or not _SCALAR_HEX.fullmatch(value):
        raise CosignRefused("bad_scalar")
    k = int(value, 16)
    if not 1 <= k < N:
        raise CosignRefused("bad_scalar")
    return k


def _parse_digest(value: Any) -> bytes:
    if not isinstance(value, str) or not _SCALAR_HEX.fullmatch(value):
        raise CosignRefused("bad_proof")
    return bytes.fromhex(value)


def _fields(message: Any, *names: str) -> list[Any]:
    """The named fields of a message (a dict); a missing one is None (the parsers refuse it)."""
    if not isinstance(message, dict):
        return [None] * len(names)
    return [message.get(name) for name in names]


def _proof(message: Any, *names: str) -> list[Any]:
    proof = message.get("proof") if isinstance(message, dict) else None
    if not isinstance(proof, dict):
        raise CosignRefused("bad_proof")
    return _fields(proof, *names)


def _check_session(session: str) -> bytes:
    """The session string (issued by the service: a programming error, not a refusal, if unusable)."""
    if not isinstance(session, str) or not session or "\x00" in session:
        raise ValueError("the session is a non-empty string without NUL")
    return session.encode("utf-8")


def challenge(tag: str, session: str, *points: bytes) -> int:
    """c = int(SHA-256(tag ‖ 0x00 ‖ session ‖ 0x00 ‖ points as 65 raw bytes each)) mod n."""
    digest = hashlib.sha256(tag.encode("ascii") + b"\x00" + _check_session(session) + b"\x00")
    for point in points:
        assert len(point) == 65
        digest.update(point)
    return int.from_bytes(digest.digest(), "big") % N


def _random_scalar() -> int:
    return secrets.randbelow(N - 1) + 1


def _schnorr_holds(tag: str, session: str, public: bytes, r_point: bytes, z: int) -> bool:
    """z·G == R + c·X, checked as z·G − c·X == R (public values only: the variable-time multi-multiplication)."""
    c = challenge(tag, session, public, r_point)
    return hmac.compare_digest(sm2.point_lincomb(z, (N - c) % N, public), r_point)


def _schnorr(tag: str, session: str, secret: int, public: bytes) -> dict[str, str]:
    t = _random_scalar()
    r_point = sm2.point_mul(t)
    z = (t + challenge(tag, session, public, r_point) * secret) % N
    if z == 0:  # probability 1/n; the other side would refuse it
        return _schnorr(tag, session, secret, public)
    return {"R": point_hex(r_point), "z": scalar_hex(z)}


def _sign_session(session: str, e: bytes) -> str:
    return session + ":" + e.hex()


# --- SM2Cipher (GM/T 0009 DER SEQUENCE {x INTEGER, y INTEGER, C3 OCTET STRING (32), C2 OCTET STRING}) ------------


def _der_item(data: bytes, offset: int, tag: int) -> tuple[bytes, int]:
    """The content of the DER item with ``tag`` at ``offset`` (minimal definite lengths only) and the next offset."""
    if offset + 2 > len(data) or data[offset] != tag:
        raise CosignRefused("bad_ciphertext")
    length, offset = data[offset + 1], offset + 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 3 or offset + count > len(data) or data[offset] == 0:
            raise CosignRefused("bad_ciphertext")
        length, offset = int.from_bytes(data[offset : offset + count], "big"), offset + count
        if length < 0x80:
            raise CosignRefused("bad_ciphertext")
    if offset + length > len(data):
        raise CosignRefused("bad_ciphertext")
    return data[offset : offset + length], offset + length


def _der_coordinate(content: bytes) -> int:
    """A non-negative minimal DER INTEGER below p."""
    if not content or content[0] & 0x80 or (len(content) > 1 and content[0] == 0 and not content[1] & 0x80):
        raise CosignRefused("bad_ciphertext")
    value = int.from_bytes(content, "big")
    if value >= sm2.P:
        raise CosignRefused("bad_ciphertext")
    return value


def parse_ciphertext(der: Any) -> tuple[bytes, bytes, bytes]:
    """(C1 as a 65-byte point, C3, C2) of an ``SM2Cipher`` DER; anything else is ``bad_ciphertext``."""
    if not isinstance(der, bytes):
        raise CosignRefused("bad_ciphertext")
    body, end = _der_item(der, 0, 0x30)
    if end != len(der):
        raise CosignRefused("bad_ciphertext")
    x, offset = _der_item(body, 0, 0x02)
    y, offset = _der_item(body, offset, 0x02)
    c3, offset = _der_item(body, offset, 0x04)
    c2, offset = _der_item(body, offset, 0x04)
    if offset != len(body) or len(c3) != 32 or not 1 <= len(c2) <= MAX_PLAINTEXT:
        raise CosignRefused("bad_ciphertext")
    c1 = b"\x04" + _der_coordinate(x).to_bytes(32, "big") + _der_coordinate(y).to_bytes(32, "big")
    if not sm2.is_point(c1):
        raise CosignRefused("bad_ciphertext")
    return c1, c3, c2


def kdf(z: bytes, length: int) -> bytes:
    """The GM/T 0003.4 key derivation function with SM3: SM3(Z ‖ ct) for ct = 1, 2, … (32-bit big-endian)."""
    blocks = (length + 31) // 32
    return b"".join(sm2.sm3(z + counter.to_bytes(4, "big")) for counter in range(1, blocks + 1))[:length]


def _open(shared: bytes, c3: bytes, c2: bytes) -> bytes:
    """M from the shared point (x2, y2) = d·C1: t = KDF(x2 ‖ y2), M = C2 ⊕ t, C3 checked in constant time."""
    if not sm2.is_point(shared):  # the identity: not a ciphertext to this key
        raise CosignRefused("bad_ciphertext")
    x2, y2 = shared[1:33], shared[33:]
    t = kdf(x2 + y2, len(c2))
    if not any(t):
        raise CosignRefused("bad_ciphertext")
    plaintext = bytes(a ^ b for a, b in zip(c2, t, strict=True))
    if not hmac.compare_digest(sm2.sm3(x2 + plaintext + y2), c3):
        raise CosignRefused("bad_ciphertext")
    return plaintext


# --- the service's half ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerShare:
    """The service's share of one two-party SM2 key: d2 (bytes; the caller keeps it wrapped under the master key),
    the phone's public share P1 = d1^-1·G (needed to check decryption proofs) and the public key P.

    There is deliberately no method that produces a signature or a plaintext without a message from the phone that
    carries a valid proof; the share alone signs nothing.
    """

    d2: bytes = field(repr=False)
    p1: bytes
    public_point: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.d2, bytes) or len(self.d2) != 32 or not 1 <= int.from_bytes(self.d2, "big") < N:
            raise CosignRefused("bad_scalar")
        if not sm2.is_point(self.p1) or not sm2.is_point(self.public_point):
            raise CosignRefused("bad_point")

    @property
    def public_key(self) -> sm2.Sm2PublicKey:
        return sm2.Sm2PublicKey.from_point(self.public_point)

    @classmethod
    def keygen(cls, message: Any, session: str) -> tuple[ServerShare, dict[str, str]]:
        """From the phone's ``{"p1": P1, "proof": {"R": R, "z": z}}``: check z·G == R + c·P1 with
        c = H("mobileca-cosign-keygen-v1", session, P1, R); draw d2; P = d2^-1·P1 − G. Returns the share to store
        (d2, P1, P) and the answer ``{"public_key": P}``."""
        (p1_hex,) = _fields(message, "p1")
        r_hex, z_hex = _proof(message, "R", "z")
        p1, r_point, z = parse_point(p1_hex), parse_point(r_hex), parse_scalar(z_hex)
        if not _schnorr_holds(KEYGEN_TAG, session, p1, r_point, z):
            raise CosignRefused("bad_proof")
        while True:
            d2 = _random_scalar()
            public = sm2.point_sub(sm2.point_mul(pow(d2, -1, N), p1), G)
            if sm2.is_point(public):  # the identity (d1·d2 = 1) would be no key: draw again
                break
        share = cls(d2=d2.to_bytes(32, "big"), p1=p1, public_point=public)
        return share, {"public_key": point_hex(public)}

    def sign_round(self, e_hex: str, message: Any, session: str) -> dict[str, str]:
        """The service's answer for signing the digest ``e_hex`` (the one the claimant authorised; 64 hex digits),
        from the phone's ``{"q1": Q1, "proof": {"R": R, "z": z}, "e": e}`` for this round's ``session``.

        The proof is checked with c = H("mobileca-cosign-sign-v1", session ‖ ":" ‖ e_hex, Q1, R), so a proof made
        for another e or another round fails; an ``e`` in the message other than ``e_hex`` is refused too. Then
        k2, k3 random; Q2 = k2·G; (x1, y1) = k3·Q1 + Q2; r = (e + x1) mod n; s2 = d2·k3; s3 = d2·(r + k2).
        Returns ``{"r": r, "s2": s2, "s3": s3}``."""
        if not isinstance(e_hex, str) or not _SCALAR_HEX.fullmatch(e_hex):
            raise ValueError("e_hex is the 32-byte digest in lowercase hex")
        q1_hex, sent_e = _fields(message, "q1", "e")
        r_hex, z_hex = _proof(message, "R", "z")
        q1, r_point, z = parse_point(q1_hex), parse_point(r_hex), parse_scalar(z_hex)
        if not hmac.compare_digest(_parse_digest(sent_e), bytes.fromhex(e_hex)):
            raise CosignRefused("bad_proof")
        if not _schnorr_holds(SIGN_TAG, session + ":" + e_hex, q1, r_point, z):
            raise CosignRefused("bad_proof")
        d2, e = int.from_bytes(self.d2, "big"), int(e_hex, 16)
        while True:
            k2, k3 = _random_scalar(), _random_scalar()
            point = sm2.point_add(sm2.point_mul(k3, q1), sm2.point_mul(k2))
            if not sm2.is_point(point):
                continue
            r = (e + int.from_bytes(point[1:33], "big")) % N
            s2, s3 = d2 * k3 % N, d2 * (r + k2) % N
            if r and s3:  # r = 0 or s3 = 0 (probability ~2/n): new nonces, as the protocol says
                return {"r": scalar_hex(r), "s2": scalar_hex(s2), "s3": scalar_hex(s3)}

    def decrypt_round(self, ciphertext_der: bytes, message: Any, session: str) -> bytes:
        """The plaintext of an ``SM2Cipher`` to P, from the phone's ``{"t1": T1, "proof": {"A": A, "B": B,
        "z": z}}`` for this round's ``session``: T1 = w·C1 with a DLEQ proof (z·G == A + c·P1 and
        z·C1 == B + c·T1, c = H("mobileca-cosign-decrypt-v1", session, P1, C1, T1, A, B)); then
        (x2, y2) = d2^-1·T1 − C1 = d·C1 and the usual SM2 decryption with C3 checked in constant time."""
        c1, c3, c2 = parse_ciphertext(ciphertext_der)
        (t1_hex,) = _fields(message, "t1")
        a_hex, b_hex, z_hex = _proof(message, "A", "B", "z")
        t1, a_point, b_point, z = parse_point(t1_hex), parse_point(a_hex), parse_point(b_hex), parse_scalar(z_hex)
        c = challenge(DECRYPT_TAG, session, self.p1, c1, t1, a_point, b_point)
        on_g = hmac.compare_digest(sm2.point_lincomb(z, (N - c) % N, self.p1), a_point)
        on_c1 = hmac.compare_digest(sm2.point_sub(sm2.point_mul(z, c1), sm2.point_mul(c, t1)), b_point)
        if not (on_g and on_c1):
            raise CosignRefused("bad_proof")
        d2_inverse = pow(int.from_bytes(self.d2, "big"), -1, N)
        return _open(sm2.point_sub(sm2.point_mul(d2_inverse, t1), c1), c3, c2)


# --- the reference phone half ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingSignature:
    """The phone's state between its signing message and the service's answer (k1 is secret: never sent)."""

    e: bytes
    k1: int = field(repr=False)


@dataclass
class PhoneShare:
    """The phone's share d1 (a reference implementation of the phone page's half, for tests and tools)."""

    d1: int = field(repr=False, default_factory=_random_scalar)
    public_point: bytes | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.d1 < N:
            raise CosignRefused("bad_scalar")

    @property
    def w(self) -> int:
        return pow(self.d1, -1, N)

    @property
    def p1(self) -> bytes:
        return sm2.point_mul(self.w)

    @property
    def public_key(self) -> sm2.Sm2PublicKey:
        if self.public_point is None:
            raise ValueError("no public key yet: finish key generation")
        return sm2.Sm2PublicKey.from_point(self.public_point)

    def keygen_message(self, session: str) -> dict[str, Any]:
        """``{"p1": P1, "proof": {"R": R, "z": z}}``, P1 = d1^-1·G with its Schnorr proof bound to ``session``."""
        p1 = self.p1
        return {"p1": point_hex(p1), "proof": _schnorr(KEYGEN_TAG, session, self.w, p1)}

    def accept_public_key(self, answer: Any) -> sm2.Sm2PublicKey:
        """Take the service's ``{"public_key": P}``."""
        (public_hex,) = _fields(answer, "public_key")
        self.public_point = parse_point(public_hex)
        return self.public_key

    def digest(self, data: bytes) -> bytes:
        """e = SM3(Z ‖ M) under this key with the ID 1234567812345678: what the phone computes from what it shows."""
        return self.public_key.digest(data)

    def sign_message(self, e: bytes, session: str) -> tuple[dict[str, Any], PendingSignature]:
        """``{"q1": Q1, "proof": {"R": R, "z": z}, "e": e}`` for the digest ``e`` and the round's ``session``."""
        if len(e) != 32:
            raise ValueError("e is the 32-byte SM3 digest")
        k1 = _random_scalar()
        q1 = sm2.point_mul(k1)
        message = {"q1": point_hex(q1), "proof": _schnorr(SIGN_TAG, _sign_session(session, e), k1, q1), "e": e.hex()}
        return message, PendingSignature(e=e, k1=k1)

    def sign_finish(self, pending: PendingSignature, answer: Any) -> bytes:
        """The DER signature from the service's ``{"r", "s2", "s3"}``: s = d1·k1·s2 + d1·s3 − r, refused if s = 0,
        r + s = n or (r, s) does not verify under P as an ordinary SM2 signature of e."""
        r_hex, s2_hex, s3_hex = _fields(answer, "r", "s2", "s3")
        r, s2, s3 = parse_scalar(r_hex), parse_scalar(s2_hex), parse_scalar(s3_hex)
        s = (self.d1 * pending.k1 * s2 + self.d1 * s3 - r) % N
        if s == 0 or r + s == N:
            raise CosignRefused("bad_signature")
        signature = der_signature(r, s)
        if not self.public_key.verify_digest(signature, pending.e):
            raise CosignRefused("bad_signature")
        return signature

    def decrypt_message(self, ciphertext_der: bytes, session: str) -> dict[str, Any]:
        """``{"t1": T1, "proof": {"A": A, "B": B, "z": z}}``: T1 = w·C1 and the DLEQ proof that it uses the w of P1."""
        c1, _, _ = parse_ciphertext(ciphertext_der)
        w, p1 = self.w, self.p1
        t1 = sm2.point_mul(w, c1)
        while True:
            t = _random_scalar()
            a_point, b_point = sm2.point_mul(t), sm2.point_mul(t, c1)
            z = (t + challenge(DECRYPT_TAG, session, p1, c1, t1, a_point, b_point) * w) % N
            if z:
                break
        proof = {"A": point_hex(a_point), "B": point_hex(b_point), "z": scalar_hex(z)}
        return {"t1": point_hex(t1), "proof": proof}


def der_signature(r: int, s: int) -> bytes:
    """DER SEQUENCE {INTEGER r, INTEGER s} (r, s in [1, n-1])."""

    def integer(value: int) -> bytes:
        body = value.to_bytes((value.bit_length() + 8) // 8, "big")  # one spare bit: a leading 0 when the top is set
        return b"\x02" + bytes([len(body)]) + body

    content = integer(r) + integer(s)
    return b"\x30" + bytes([len(content)]) + content


__all__ = [
    "DECRYPT_TAG",
    "KEYGEN_TAG",
    "SIGN_TAG",
    "CosignRefused",
    "PendingSignature",
    "PhoneShare",
    "ServerShare",
    "challenge",
    "der_signature",
    "kdf",
    "parse_ciphertext",
    "parse_point",
    "parse_scalar",
]
