"""SM2 (GB/T 32918, GM/T 0003) signatures and encryption over the system OpenSSL 3, and SM3 (GB/T 32905).

Why a binding: PyCA ``cryptography`` has SM3 and SM4 but no SM2, and no packaged library does SM2 at speed with
GM/T 0009 ciphertexts (measured: the system libcrypto 3 signs ~3.6k/s, the best packaged alternative ~0.4k/s).
So this one small module calls the system ``libcrypto.so.3`` (the library Python's ``ssl`` module already loads)
through ``ctypes``, using only its public EVP API, and nothing else in the project talks to it.

Rules kept here, each for a reason:

* The distinguishing ID is set explicitly on every signing and verification context (``EVP_PKEY_CTX_set1_id``).
  OpenSSL 3.0 defaults to the *empty* ID, which does not conform to GM/T 0009; its default is 1234567812345678.
* Every OpenSSL object is created and freed within one call, except the parsed key (an ``EVP_PKEY``), which is
  read-only after parsing and so may be shared by threads (OpenSSL's threading rules); it is freed with the key.
* Every failure of the library is an ``Sm2Error`` carrying no key material; the OpenSSL error queue of the thread
  is cleared after each call, so no stale error leaks into the next one.
* A signature is DER ``SEQUENCE {r, s}``; a ciphertext is GM/T 0009 ``SM2Cipher`` DER ``SEQUENCE {x, y, C3, C2}``
  (what ``EVP_PKEY_encrypt`` writes with SM3); keys are PKCS#8 and SubjectPublicKeyInfo DER with
  id-ecPublicKey and the named curve sm2 (1.2.156.10197.1.301).

No Django here: the CMS library and the command-line tool use it too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from cryptography.hazmat.primitives import hashes

DEFAULT_ID: bytes = b"1234567812345678"  # GM/T 0009 default distinguishing ID, always set explicitly
SM2_CURVE_OID = "1.2.156.10197.1.301"
SM3_OID = "1.2.156.10197.1.401"
SM2_SM3_SIGNATURE_OID = "1.2.156.10197.1.501"

# The recommended curve of GB/T 32918.5 (the only one SM2 keys here use): y^2 = x^3 + ax + b over F_p.
P = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFF_00000000_FFFFFFFF_FFFFFFFF
A = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFF_00000000_FFFFFFFF_FFFFFFFC
B = 0x28E9FA9E_9D9F5E34_4D5A9E4B_CF6509A7_F39789F5_15AB8F92_DDBCBD41_4D940E93
N = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_7203DF6B_21C6052B_53BBF409_39D54123
GX = 0x32C4AE2C_1F198119_5F990446_6A39C994_8FE30BBF_F2660BE1_715A4589_334C74C7
GY = 0xBC3736A2_F4F6779C_59BDCEE3_6B692153_D0A9877C_C62A4740_02DF32E5_2139F0A0

# SubjectPublicKeyInfo ::= SEQUENCE { SEQUENCE { id-ecPublicKey, sm2 }, BIT STRING (0 unused bits) 04||x||y }
_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")
_MAX_ID_LENGTH = 8191  # ENTL is the ID's length in *bits* on two bytes
_DIGEST_LENGTH = 32
_EVP_PKEY_SM2 = 1172  # NID_sm2, the key type d2i_PrivateKey is asked for


class Sm2Error(Exception):
    """Any failure of the SM2 library: a malformed or non-SM2 key, a refused ciphertext, an unusable ID."""


def sm3(data: bytes) -> bytes:
    """SM3 (GB/T 32905) of ``data``, through ``cryptography``."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


# --- the library -----------------------------------------------------------------------------------------------

_c = ctypes.c_void_p
_size = ctypes.c_size_t
# name: (restype, argtypes). Pointers are c_void_p so that ctypes never truncates them to int.
_PROTOTYPES: dict[str, tuple[Any, list[Any]]] = {
    "OpenSSL_version_num": (ctypes.c_ulong, []),
    "ERR_get_error": (ctypes.c_ulong, []),
    "ERR_peek_error": (ctypes.c_ulong, []),
    "ERR_clear_error": (None, []),
    "ERR_error_string_n": (None, [ctypes.c_ulong, ctypes.c_char_p, _size]),
    "EVP_sm3": (_c, []),
    "EVP_PKEY_free": (None, [_c]),
    "EVP_PKEY_is_a": (ctypes.c_int, [_c, ctypes.c_char_p]),
    "EVP_PKEY_CTX_new": (_c, [_c, _c]),
    "EVP_PKEY_CTX_new_from_name": (_c, [_c, ctypes.c_char_p, ctypes.c_char_p]),
    "EVP_PKEY_CTX_free": (None, [_c]),
    "EVP_PKEY_CTX_set1_id": (ctypes.c_int, [_c, ctypes.c_char_p, ctypes.c_int]),
    "EVP_PKEY_keygen_init": (ctypes.c_int, [_c]),
    "EVP_PKEY_generate": (ctypes.c_int, [_c, ctypes.POINTER(_c)]),
    "EVP_PKEY_get_group_name": (ctypes.c_int, [_c, ctypes.c_char_p, _size, ctypes.POINTER(_size)]),
    "EVP_PKEY_private_check": (ctypes.c_int, [_c]),
    "EVP_PKEY_pairwise_check": (ctypes.c_int, [_c]),
    "EVP_PKEY_public_check_quick": (ctypes.c_int, [_c]),
    "EVP_PKEY_sign_init": (ctypes.c_int, [_c]),
    "EVP_PKEY_sign": (ctypes.c_int, [_c, _c, ctypes.POINTER(_size), ctypes.c_char_p, _size]),
    "EVP_PKEY_verify_init": (ctypes.c_int, [_c]),
    "EVP_PKEY_verify": (ctypes.c_int, [_c, ctypes.c_char_p, _size, ctypes.c_char_p, _size]),
    "EVP_PKEY_encrypt_init": (ctypes.c_int, [_c]),
    "EVP_PKEY_encrypt": (ctypes.c_int, [_c, _c, ctypes.POINTER(_size), ctypes.c_char_p, _size]),
    "EVP_PKEY_decrypt_init": (ctypes.c_int, [_c]),
    "EVP_PKEY_decrypt": (ctypes.c_int, [_c, _c, ctypes.POINTER(_size), ctypes.c_char_p, _size]),
    "EVP_MD_CTX_new": (_c, []),
    "EVP_MD_CTX_free": (None, [_c]),
    "EVP_MD_CTX_set_pkey_ctx": (None, [_c, _c]),
    "EVP_DigestSignInit": (ctypes.c_int, [_c, _c, _c, _c, _c]),
    "EVP_DigestSign": (ctypes.c_int, [_c, _c, ctypes.POINTER(_size), ctypes.c_char_p, _size]),
    "EVP_DigestVerifyInit": (ctypes.c_int, [_c, _c, _c, _c, _c]),
    "EVP_DigestVerify": (ctypes.c_int, [_c, ctypes.c_char_p, _size, ctypes.c_char_p, _size]),
    "d2i_PUBKEY": (_c, [_c, ctypes.POINTER(_c), ctypes.c_long]),
    "i2d_PUBKEY": (ctypes.c_int, [_c, ctypes.POINTER(_c)]),
    "d2i_PKCS8_PRIV_KEY_INFO": (_c, [_c, ctypes.POINTER(_c), ctypes.c_long]),
    "i2d_PKCS8_PRIV_KEY_INFO": (ctypes.c_int, [_c, ctypes.POINTER(_c)]),
    "PKCS8_PRIV_KEY_INFO_free": (None, [_c]),
    "d2i_PrivateKey": (_c, [ctypes.c_int, _c, ctypes.POINTER(_c), ctypes.c_long]),
    "EVP_PKEY2PKCS8": (_c, [_c]),
    # EC point arithmetic on the SM2 group (two-party SM2, ``sm2_cosign``); public API of libcrypto 3.0, not deprecated
    "EC_GROUP_new_by_curve_name": (_c, [ctypes.c_int]),
    "EC_POINT_new": (_c, [_c]),
    "EC_POINT_clear_free": (None, [_c]),
    "EC_POINT_oct2point": (ctypes.c_int, [_c, _c, ctypes.c_char_p, _size, _c]),
    "EC_POINT_point2oct": (_size, [_c, _c, ctypes.c_int, _c, _size, _c]),
    "EC_POINT_mul": (ctypes.c_int, [_c, _c, _c, _c, _c, _c]),
    "EC_POINT_add": (ctypes.c_int, [_c, _c, _c, _c, _c]),
    "EC_POINT_invert": (ctypes.c_int, [_c, _c, _c]),
    "EC_POINT_is_at_infinity": (ctypes.c_int, [_c, _c]),
    "EC_POINT_is_on_curve": (ctypes.c_int, [_c, _c, _c]),
    "BN_bin2bn": (_c, [ctypes.c_char_p, ctypes.c_int, _c]),
    "BN_clear_free": (None, [_c]),
    "BN_CTX_new": (_c, []),
    "BN_CTX_free": (None, [_c]),
}

_lib: ctypes.CDLL | None = None
_lib_lock = threading.Lock()


def _candidates() -> list[str]:
    """Where libcrypto 3 may be, most trusted first: the one Python's ``ssl`` already loaded, the linker's pick,
    Debian's multiarch paths."""
    found: list[str] = []
    try:
        import _ssl  # noqa: F401  (loads libssl/libcrypto into this process)

        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.split()[-1] if line.strip() else ""
                if "/libcrypto.so" in path and path not in found:
                    found.append(path)
    except (ImportError, OSError):
        pass
    linker = ctypes.util.find_library("crypto")
    if linker:
        found.append(linker)
    found += [
        "libcrypto.so.3",
        "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
        "/usr/lib/aarch64-linux-gnu/libcrypto.so.3",
    ]
    if sys.platform == "darwin":
        found += ["/opt/homebrew/opt/openssl@3/lib/libcrypto.3.dylib", "/usr/local/opt/openssl@3/lib/libcrypto.3.dylib"]
    return found


def _load() -> ctypes.CDLL:
    """The first candidate that is OpenSSL 3.x with SM2 (``EVP_PKEY_CTX_set1_id``), its prototypes declared."""
    global _lib
    if _lib is not None:
        return _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        tried = []
        for candidate in _candidates():
            try:
                lib = ctypes.CDLL(candidate)
                lib.OpenSSL_version_num.restype = ctypes.c_ulong
                version = lib.OpenSSL_version_num()
                if not 0x3000_0000 <= version < 0x4000_0000:
                    tried.append(f"{candidate} (version {version:#x})")
                    continue
                for name, (restype, argtypes) in _PROTOTYPES.items():
                    function = getattr(lib, name)
                    function.restype = restype
                    function.argtypes = argtypes
            except (OSError, AttributeError) as error:
                tried.append(f"{candidate} ({error})")
                continue
            _lib = lib
            return lib
        raise Sm2Error("no OpenSSL 3 libcrypto with SM2 found; tried: " + "; ".join(tried))


def _failure(lib: ctypes.CDLL, what: str) -> Sm2Error:
    """An ``Sm2Error`` naming the failed step and OpenSSL's reasons; the thread's error queue is emptied."""
    reasons = []
    while code := lib.ERR_get_error():
        buffer = ctypes.create_string_buffer(256)
        lib.ERR_error_string_n(code, buffer, len(buffer))
        reasons.append(buffer.value.decode("ascii", "replace"))
    return Sm2Error(what + (": " + "; ".join(reasons) if reasons else ""))


class _Pkey:
    """Owns one parsed ``EVP_PKEY`` (read-only, shareable by threads) and frees it with the Python object."""

    __slots__ = ("lib", "pointer")

    def __init__(self, lib: ctypes.CDLL, pointer: int) -> None:
        self.lib = lib
        self.pointer = pointer

    def __del__(self) -> None:
        if self.pointer:
            self.lib.EVP_PKEY_free(self.pointer)
            self.pointer = 0


def _d2i(function: Any, der: bytes, free: Any) -> int:
    """Run a ``d2i_*`` parser over ``der``: the object, or 0 if it fails or leaves trailing bytes (the object is
    then freed with ``free``)."""
    if not der:
        return 0
    buffer = ctypes.create_string_buffer(der, len(der))
    cursor = _c(ctypes.addressof(buffer))
    pointer = function(None, ctypes.byref(cursor), len(der))
    if pointer and (cursor.value or 0) - ctypes.addressof(buffer) != len(der):
        free(pointer)
        return 0
    return int(pointer or 0)


def _i2d(function: Any, pointer: int) -> bytes:
    length = function(pointer, None)
    if length <= 0:
        return b""
    buffer = ctypes.create_string_buffer(length)
    cursor = _c(ctypes.addressof(buffer))
    if function(pointer, ctypes.byref(cursor)) != length:
        return b""
    return buffer.raw


def _is_sm2(key: _Pkey) -> bool:
    """Whether a parsed key is of type SM2 on the SM2 curve (never a P-256 or other EC key)."""
    lib = key.lib
    name, length = ctypes.create_string_buffer(32), _size(0)
    group = lib.EVP_PKEY_get_group_name(key.pointer, name, len(name), ctypes.byref(length)) == 1
    sm2_key = lib.EVP_PKEY_is_a(key.pointer, b"SM2") == 1 and group and name.value == b"SM2"
    lib.ERR_clear_error()
    return sm2_key


def _check(key: _Pkey, check: Any, what: str) -> None:
    lib = key.lib
    ctx = lib.EVP_PKEY_CTX_new(key.pointer, None)
    try:
        if not ctx or check(ctx) != 1:
            raise _failure(lib, what)
    finally:
        lib.EVP_PKEY_CTX_free(ctx)


def _parse_private(der: bytes, *, pairwise: bool) -> _Pkey:
    """A PKCS#8 DER SM2 private key with d in [1, n-2], and with ``pairwise`` its public key checked against d (a
    scalar multiplication: for keys from outside; a key we sealed ourselves needs only the cheap checks)."""
    lib = _load()
    lib.ERR_clear_error()
    # Strictly PKCS#8 (not a bare ECPrivateKey), nothing after it; parsed only to be checked.
    info = _d2i(lib.d2i_PKCS8_PRIV_KEY_INFO, der, lib.PKCS8_PRIV_KEY_INFO_free)
    if not info:
        raise _failure(lib, "not a PKCS#8 private key")
    lib.PKCS8_PRIV_KEY_INFO_free(info)
    # d2i_PrivateKey with the type is several times faster than EVP_PKCS82PKEY on OpenSSL 3.0 (its decoder search).
    pointer = _d2i(
        lambda _, cursor, length: lib.d2i_PrivateKey(_EVP_PKEY_SM2, None, cursor, length), der, lib.EVP_PKEY_free
    )
    if not pointer:
        raise _failure(lib, "unreadable PKCS#8 private key")
    key = _Pkey(lib, pointer)
    if not _is_sm2(key):
        raise Sm2Error("not an SM2 private key")
    _check(key, lib.EVP_PKEY_private_check, "the SM2 private scalar is out of range")
    if pairwise:
        _check(key, lib.EVP_PKEY_pairwise_check, "the SM2 public key does not match the private key")
    return key


def _parse_public(der: bytes) -> _Pkey:
    """A SubjectPublicKeyInfo DER SM2 public key. Decoding puts the point on the curve; the quick check refuses the
    point at infinity, and the cofactor 1 makes every other curve point one of order n (no n·Q check needed)."""
    lib = _load()
    lib.ERR_clear_error()
    pointer = _d2i(lib.d2i_PUBKEY, der, lib.EVP_PKEY_free)
    if not pointer:
        raise _failure(lib, "not a SubjectPublicKeyInfo")
    key = _Pkey(lib, pointer)
    if not _is_sm2(key):
        raise Sm2Error("not an SM2 public key")
    _check(key, lib.EVP_PKEY_public_check_quick, "invalid SM2 public key")
    return key


def _check_id(id: bytes) -> None:
    if not isinstance(id, bytes) or not 0 < len(id) <= _MAX_ID_LENGTH:
        raise Sm2Error(f"the distinguishing ID must be 1 to {_MAX_ID_LENGTH} bytes")


def _on_curve(x: int, y: int) -> bool:
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


def _spki(point: bytes) -> bytes:
    return _SPKI_PREFIX + point


# --- keys ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sm2PublicKey:
    """An SM2 public key: SubjectPublicKeyInfo DER (id-ecPublicKey, named curve sm2), always the uncompressed point."""

    der: bytes
    _key: _Pkey = field(init=False, repr=False, compare=False, hash=False)
    _point: bytes = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        key = _parse_public(self.der)
        canonical = self.der.startswith(_SPKI_PREFIX) and len(self.der) == len(_SPKI_PREFIX) + 65
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_point", self.der[len(_SPKI_PREFIX) :] if canonical else _point_of(key))

    @classmethod
    def _parsed(cls, key: _Pkey, point: bytes) -> Sm2PublicKey:
        """The key around an already parsed and checked ``EVP_PKEY`` (no second parse)."""
        public = object.__new__(cls)
        for name, value in (("der", _spki(point)), ("_key", key), ("_point", point)):
            object.__setattr__(public, name, value)
        return public

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (type(self), (self.der,))

    @classmethod
    def from_point(cls, point: bytes) -> Sm2PublicKey:
        """The key of a 65-byte uncompressed point ``04||x||y`` on the SM2 curve."""
        if len(point) != 65 or point[0] != 4:
            raise Sm2Error("an SM2 point is 65 bytes, 04||x||y")
        if not _on_curve(int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big")):
            raise Sm2Error("the point is not on the SM2 curve")
        return cls(_spki(point))

    @property
    def point(self) -> bytes:
        """The 65-byte uncompressed point ``04||x||y``."""
        return self._point

    def z(self, id: bytes = DEFAULT_ID) -> bytes:
        """Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA) (GB/T 32918.2 §5.5)."""
        if not isinstance(id, bytes) or len(id) > _MAX_ID_LENGTH:
            raise Sm2Error(f"the distinguishing ID must be at most {_MAX_ID_LENGTH} bytes")
        entl = (8 * len(id)).to_bytes(2, "big")
        curve = b"".join(value.to_bytes(32, "big") for value in (A, B, GX, GY))
        return sm3(entl + id + curve + self.point[1:])

    def digest(self, message: bytes, id: bytes = DEFAULT_ID) -> bytes:
        """e = SM3(Z_A || M): what an SM2 signature over ``message`` signs."""
        return sm3(self.z(id) + message)

    def verify(self, signature: bytes, message: bytes, id: bytes = DEFAULT_ID) -> bool:
        """Whether ``signature`` (DER {r, s}) is an SM3withSM2 signature over ``message`` under ``id``."""
        _check_id(id)
        return _digest_verify(self._key, signature, message, id)

    def verify_digest(self, signature: bytes, e: bytes) -> bool:
        """Whether ``signature`` (DER {r, s}) signs the precomputed ``e`` = SM3(Z || M) (32 bytes)."""
        if len(e) != _DIGEST_LENGTH:
            raise Sm2Error("e is the 32-byte SM3 digest")
        lib = self._key.lib
        ctx = lib.EVP_PKEY_CTX_new(self._key.pointer, None)
        try:
            if not ctx or lib.EVP_PKEY_verify_init(ctx) != 1:
                raise _failure(lib, "cannot start SM2 verification")
            return lib.EVP_PKEY_verify(ctx, signature, len(signature), e, len(e)) == 1
        finally:
            lib.EVP_PKEY_CTX_free(ctx)
            lib.ERR_clear_error()

    def encrypt(self, plaintext: bytes) -> bytes:
        """GM/T 0009 ``SM2Cipher`` DER ``SEQUENCE {x, y, C3 (SM3), C2}`` of ``plaintext`` for this key."""
        if not plaintext:
            raise Sm2Error("SM2 encrypts at least one byte")
        return _crypt(self._key, plaintext, encrypt=True)


@dataclass(frozen=True)
class Sm2PrivateKey:
    """An SM2 private key: PKCS#8 DER (unencrypted; callers wrap it under the master key). Never printed.

    Constructing one directly checks the type, the curve and the range of d (for keys this platform sealed itself);
    ``load_private`` also checks the public key against d (for keys from outside).
    """

    der: bytes = field(repr=False)
    _key: _Pkey = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_key", _parse_private(self.der, pairwise=False))

    @classmethod
    def _parsed(cls, key: _Pkey) -> Sm2PrivateKey:
        """The key around an already parsed and checked ``EVP_PKEY``, with its canonical PKCS#8 (no second parse)."""
        private = object.__new__(cls)
        object.__setattr__(private, "der", _pkcs8(key))
        object.__setattr__(private, "_key", key)
        return private

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (type(self), (self.der,))

    @classmethod
    def from_scalar(cls, d: bytes) -> Sm2PrivateKey:
        """The key of a 32-byte big-endian scalar d (1 <= d <= n-2), e.g. a published test key or another library's
        raw key; OpenSSL derives the public point and checks the range."""
        if len(d) != 32:
            raise Sm2Error("an SM2 private scalar is 32 bytes")
        # PKCS#8 { version 0, { id-ecPublicKey, sm2 }, OCTET STRING ECPrivateKey { version 1, OCTET STRING d } }
        der = bytes.fromhex("3041020100301306072a8648ce3d020106082a811ccf5501822d042730250201010420") + d
        return load_private(der)

    def public_key(self) -> Sm2PublicKey:
        return self._public

    @cached_property
    def _public(self) -> Sm2PublicKey:
        point = _point_of(self._key)
        return Sm2PublicKey._parsed(_parse_public(_spki(point)), point)

    def sign(self, message: bytes, id: bytes = DEFAULT_ID) -> bytes:
        """SM3withSM2 over ``message``, Z computed with ``id``: DER ``SEQUENCE {r, s}``."""
        _check_id(id)
        return _digest_sign(self._key, message, id)

    def sign_digest(self, e: bytes) -> bytes:
        """Sign a precomputed e = SM3(Z || M) (32 bytes; what a CSC signHash receives): DER ``SEQUENCE {r, s}``."""
        if len(e) != _DIGEST_LENGTH:
            raise Sm2Error("e is the 32-byte SM3 digest")
        lib = self._key.lib
        lib.ERR_clear_error()
        ctx = lib.EVP_PKEY_CTX_new(self._key.pointer, None)
        try:
            if not ctx or lib.EVP_PKEY_sign_init(ctx) != 1:
                raise _failure(lib, "cannot start SM2 signing")
            return _two_pass(lib, lib.EVP_PKEY_sign, ctx, e, "SM2 signing failed")
        finally:
            lib.EVP_PKEY_CTX_free(ctx)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """The plaintext of a GM/T 0009 ``SM2Cipher``; a tampered one (C3 mismatch, bad point) is an ``Sm2Error``."""
        if not ciphertext:
            raise Sm2Error("empty SM2 ciphertext")
        return _crypt(self._key, ciphertext, encrypt=False)


def generate() -> Sm2PrivateKey:
    """A new SM2 key pair on the recommended curve, from OpenSSL's CSPRNG."""
    lib = _load()
    lib.ERR_clear_error()
    ctx = lib.EVP_PKEY_CTX_new_from_name(None, b"SM2", None)
    pointer = _c()
    try:
        if not ctx or lib.EVP_PKEY_keygen_init(ctx) != 1 or lib.EVP_PKEY_generate(ctx, ctypes.byref(pointer)) != 1:
            raise _failure(lib, "SM2 key generation failed")
    finally:
        lib.EVP_PKEY_CTX_free(ctx)
    return Sm2PrivateKey._parsed(_Pkey(lib, pointer.value or 0))


def load_private(der: bytes) -> Sm2PrivateKey:
    """An SM2 private key from PKCS#8 DER, fully checked (d in range, its public key matching) and re-encoded
    canonically; anything else (P-256, RSA, a bare ECPrivateKey, trailing bytes, junk) is an ``Sm2Error``."""
    return Sm2PrivateKey._parsed(_parse_private(der, pairwise=True))


def load_public(der: bytes) -> Sm2PublicKey:
    """An SM2 public key from SubjectPublicKeyInfo DER, re-encoded with the uncompressed point; else ``Sm2Error``."""
    key = _parse_public(der)
    return Sm2PublicKey._parsed(key, _point_of(key))


# --- the operations ------------------------------------------------------------------------------------------------


def _pkcs8(key: _Pkey) -> bytes:
    lib = key.lib
    info = lib.EVP_PKEY2PKCS8(key.pointer)
    if not info:
        raise _failure(lib, "cannot encode the SM2 private key")
    try:
        der = _i2d(lib.i2d_PKCS8_PRIV_KEY_INFO, info)
    finally:
        lib.PKCS8_PRIV_KEY_INFO_free(info)
    if not der:
        raise _failure(lib, "cannot encode the SM2 private key")
    return der


def _point_of(key: _Pkey) -> bytes:
    """The uncompressed public point of a parsed key (from OpenSSL's own SubjectPublicKeyInfo, any point form)."""
    lib = key.lib
    der = _i2d(lib.i2d_PUBKEY, key.pointer)
    if der.startswith(_SPKI_PREFIX) and len(der) == len(_SPKI_PREFIX) + 65:
        return der[len(_SPKI_PREFIX) :]
    # OpenSSL keeps a key's point form: a compressed input point comes back compressed. Decompress (p = 3 mod 4).
    if len(der) >= 33 and der[-33] in (2, 3):
        x = int.from_bytes(der[-32:], "big")
        y = pow((x * x * x + A * x + B) % P, (P + 1) // 4, P)
        if y % 2 != der[-33] % 2:
            y = P - y
        if _on_curve(x, y):
            return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")
    raise Sm2Error("cannot read the SM2 public point")


def _two_pass(lib: ctypes.CDLL, function: Any, ctx: int, data: bytes, what: str) -> bytes:
    """Call an OpenSSL ``(ctx, out, &outlen, in, inlen)`` function for the size, then for the output."""
    length = _size(0)
    if function(ctx, None, ctypes.byref(length), data, len(data)) != 1:
        raise _failure(lib, what)
    buffer = ctypes.create_string_buffer(length.value)
    if function(ctx, buffer, ctypes.byref(length), data, len(data)) != 1:
        raise _failure(lib, what)
    return buffer.raw[: length.value]


def _digest_context(key: _Pkey, id: bytes) -> tuple[int, int]:
    """A fresh (EVP_MD_CTX, EVP_PKEY_CTX) pair with the distinguishing ID set; the caller frees both."""
    lib = key.lib
    lib.ERR_clear_error()
    md_ctx = lib.EVP_MD_CTX_new()
    pkey_ctx = lib.EVP_PKEY_CTX_new(key.pointer, None)
    if not md_ctx or not pkey_ctx or lib.EVP_PKEY_CTX_set1_id(pkey_ctx, id, len(id)) != 1:
        lib.EVP_MD_CTX_free(md_ctx)
        lib.EVP_PKEY_CTX_free(pkey_ctx)
        raise _failure(lib, "cannot set the SM2 distinguishing ID")
    lib.EVP_MD_CTX_set_pkey_ctx(md_ctx, pkey_ctx)
    return md_ctx, pkey_ctx


def _digest_sign(key: _Pkey, message: bytes, id: bytes) -> bytes:
    lib = key.lib
    md_ctx, pkey_ctx = _digest_context(key, id)
    try:
        if lib.EVP_DigestSignInit(md_ctx, None, lib.EVP_sm3(), None, key.pointer) != 1:
            raise _failure(lib, "cannot start SM2 signing")
        return _two_pass(lib, lib.EVP_DigestSign, md_ctx, message, "SM2 signing failed")
    finally:
        # EVP_MD_CTX_set_pkey_ctx leaves the EVP_PKEY_CTX to its owner: free the MD context first, then it.
        lib.EVP_MD_CTX_free(md_ctx)
        lib.EVP_PKEY_CTX_free(pkey_ctx)


def _digest_verify(key: _Pkey, signature: bytes, message: bytes, id: bytes) -> bool:
    lib = key.lib
    md_ctx, pkey_ctx = _digest_context(key, id)
    try:
        if lib.EVP_DigestVerifyInit(md_ctx, None, lib.EVP_sm3(), None, key.pointer) != 1:
            raise _failure(lib, "cannot start SM2 verification")
        return lib.EVP_DigestVerify(md_ctx, signature, len(signature), message, len(message)) == 1
    finally:
        lib.EVP_MD_CTX_free(md_ctx)
        lib.EVP_PKEY_CTX_free(pkey_ctx)
        lib.ERR_clear_error()


def _crypt(key: _Pkey, data: bytes, *, encrypt: bool) -> bytes:
    lib = key.lib
    lib.ERR_clear_error()
    ctx = lib.EVP_PKEY_CTX_new(key.pointer, None)
    if encrypt:
        init, run = lib.EVP_PKEY_encrypt_init, lib.EVP_PKEY_encrypt
    else:
        init, run = lib.EVP_PKEY_decrypt_init, lib.EVP_PKEY_decrypt
    what = "SM2 encryption failed" if encrypt else "SM2 decryption refused the ciphertext"
    try:
        if not ctx or init(ctx) != 1:
            raise _failure(lib, what)
        return _two_pass(lib, run, ctx, data, what)
    finally:
        lib.EVP_PKEY_CTX_free(ctx)


# --- points (two-party SM2, ``sm2_cosign``) -----------------------------------------------------------------------
#
# Points are bytes: the 65-byte SEC1 uncompressed ``04||x||y`` of a point on the SM2 curve, or ``INFINITY`` (the
# one-byte SEC1 encoding of the identity) where a result is the identity. Scalars are ints in [0, n-1]. A secret
# scalar goes through ``point_mul`` only: OpenSSL multiplies one scalar by one point with its Montgomery ladder,
# in constant time. ``point_lincomb`` (a·G + b·Q in one go, wNAF) is variable-time: public scalars only.

INFINITY = b"\x00"
_NID_SM2 = 1172  # the SM2 curve's NID, the same number as the key type
_UNCOMPRESSED = 4  # POINT_CONVERSION_UNCOMPRESSED
_group: int = 0


def _sm2_group(lib: ctypes.CDLL) -> int:
    """The SM2 ``EC_GROUP``, made once per process and read-only afterwards (so shared by threads), never freed."""
    global _group
    if not _group:
        with _lib_lock:
            if not _group:
                group = lib.EC_GROUP_new_by_curve_name(_NID_SM2)
                if not group:
                    raise _failure(lib, "no SM2 curve in this libcrypto")
                _group = int(group)
    return _group


class _Points:
    """The OpenSSL objects of one point computation, all freed (points and scalars cleared) on exit."""

    def __init__(self) -> None:
        self.lib = _load()
        self.group = _sm2_group(self.lib)
        self.points: list[int] = []
        self.numbers: list[int] = []
        self.bn_ctx = 0

    def __enter__(self) -> _Points:
        self.lib.ERR_clear_error()
        self.bn_ctx = int(self.lib.BN_CTX_new() or 0)
        if not self.bn_ctx:
            raise _failure(self.lib, "out of memory")
        return self

    def __exit__(self, *_: object) -> None:
        for point in self.points:
            self.lib.EC_POINT_clear_free(point)
        for number in self.numbers:
            self.lib.BN_clear_free(number)
        self.lib.BN_CTX_free(self.bn_ctx)
        self.lib.ERR_clear_error()

    def new(self) -> int:
        point = int(self.lib.EC_POINT_new(self.group) or 0)
        if not point:
            raise _failure(self.lib, "out of memory")
        self.points.append(point)
        return point

    def read(self, encoded: bytes) -> int:
        """A point from its encoding: exactly 65 bytes ``04||x||y`` on the curve, or ``INFINITY``."""
        if not isinstance(encoded, bytes) or not (
            encoded == INFINITY or (len(encoded) == 65 and encoded[0] == _UNCOMPRESSED)
        ):
            raise Sm2Error("an SM2 point is 65 bytes, 04||x||y")
        point = self.new()
        lib = self.lib
        if (
            lib.EC_POINT_oct2point(self.group, point, encoded, len(encoded), self.bn_ctx) != 1
            or lib.EC_POINT_is_on_curve(self.group, point, self.bn_ctx) != 1
        ):
            lib.ERR_clear_error()
            raise Sm2Error("the point is not on the SM2 curve")
        return point

    def scalar(self, k: int) -> int:
        if not isinstance(k, int) or not 0 <= k < N:
            raise Sm2Error("an SM2 scalar is in [0, n-1]")
        number = int(self.lib.BN_bin2bn(k.to_bytes(32, "big"), 32, None) or 0)
        if not number:
            raise _failure(self.lib, "out of memory")
        self.numbers.append(number)
        return number

    def write(self, point: int) -> bytes:
        lib = self.lib
        if lib.EC_POINT_is_at_infinity(self.group, point) == 1:
            return INFINITY
        buffer = ctypes.create_string_buffer(65)
        if lib.EC_POINT_point2oct(self.group, point, _UNCOMPRESSED, buffer, 65, self.bn_ctx) != 65:
            raise _failure(lib, "cannot encode the SM2 point")
        return buffer.raw

    def mul(self, g_scalar: int | None, point: int | None, p_scalar: int | None) -> int:
        result = self.new()
        g = self.scalar(g_scalar) if g_scalar is not None else None
        p = self.scalar(p_scalar) if p_scalar is not None else None
        if self.lib.EC_POINT_mul(self.group, result, g, point, p, self.bn_ctx) != 1:
            raise _failure(self.lib, "SM2 point multiplication failed")
        return result

    def add(self, a: int, b: int) -> int:
        result = self.new()
        if self.lib.EC_POINT_add(self.group, result, a, b, self.bn_ctx) != 1:
            raise _failure(self.lib, "SM2 point addition failed")
        return result


def point_mul(k: int, point: bytes | None = None) -> bytes:
    """k·G, or k·``point``; constant time in k (a secret scalar may be passed)."""
    with _Points() as ops:
        if point is None:
            return ops.write(ops.mul(k, None, None))
        return ops.write(ops.mul(None, ops.read(point), k))


def point_add(a: bytes, b: bytes) -> bytes:
    """a + b."""
    with _Points() as ops:
        return ops.write(ops.add(ops.read(a), ops.read(b)))


def point_sub(a: bytes, b: bytes) -> bytes:
    """a − b."""
    with _Points() as ops:
        negated = ops.read(b)
        if ops.lib.EC_POINT_invert(ops.group, negated, ops.bn_ctx) != 1:
            raise _failure(ops.lib, "SM2 point negation failed")
        return ops.write(ops.add(ops.read(a), negated))


def point_lincomb(a: int, b: int, point: bytes) -> bytes:
    """a·G + b·``point`` in one multi-scalar multiplication: variable time, so for *public* scalars only (checking
    a proof). Takes b in [0, n-1]; pass (n - b) for a subtraction."""
    with _Points() as ops:
        return ops.write(ops.mul(a, ops.read(point), b))


def is_point(point: bytes) -> bool:
    """Whether ``point`` is 65 bytes ``04||x||y`` on the SM2 curve (so never the identity)."""
    if not isinstance(point, bytes) or len(point) != 65 or point[0] != _UNCOMPRESSED:
        return False
    return _on_curve(int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big"))


__all__ = [
    "DEFAULT_ID",
    "INFINITY",
    "SM2_CURVE_OID",
    "SM2_SM3_SIGNATURE_OID",
    "SM3_OID",
    "Sm2Error",
    "Sm2PrivateKey",
    "Sm2PublicKey",
    "generate",
    "is_point",
    "load_private",
    "load_public",
    "point_add",
    "point_lincomb",
    "point_mul",
    "point_sub",
    "sm3",
]
