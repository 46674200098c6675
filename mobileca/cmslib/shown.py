"""How a file is shown to a person who compares two screens (the bid page on the computer, the authorisation on the
phone): its digest as lower-case hex in groups of four (what ``sha256sum`` prints, spaced) under the digest's name
(SHA-256, or SM3 for a file signed with SM2), its size in units and in bytes. One function for each, so both screens
print the same text for the same file."""

from __future__ import annotations

GROUP = 4  # hex characters per group: 16 groups for a SHA-256
_UNITS = ("KB", "MB", "GB", "TB")
_DIGEST_NAMES = {"2.16.840.1.101.3.4.2.1": "SHA-256", "1.2.156.10197.1.401": "SM3"}


def digest_name(hash_oid: str) -> str:
    """``"SM3"``: the name a digest is labelled with, from its algorithm's OID (a key profile's ``hash_oid``)."""
    try:
        return _DIGEST_NAMES[hash_oid]
    except KeyError:
        raise ValueError(f"no name for the digest algorithm {hash_oid}") from None


def digest_groups(digest: bytes | str) -> str:
    """``"9f86 d081 884c …"``: a digest (bytes, or hex in either case) as lower-case hex in groups of four."""
    text = digest.hex() if isinstance(digest, bytes) else digest.strip().lower()
    return " ".join(text[start : start + GROUP] for start in range(0, len(text), GROUP))


def size_units(size: int) -> str:
    """``"1.2 MB"``: a size in the largest binary unit (1 KB = 1024 bytes) not above it, one decimal; bytes as
    ``"812 B"``."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def size_bytes(size: int) -> str:
    """``"1,258,291"``: the exact byte count with thousands separators."""
    return f"{size:,}"
