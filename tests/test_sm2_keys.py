"""SM2 user keys wrapped under the CA back-end's master key like the others (issue 19), on the key file and on
SoftHSM2 (the ``ca`` fixture runs each test on both back-ends)."""

from __future__ import annotations

import base64

import pytest

from mobileca.ca import sm2
from mobileca.ca.backends import UnwrapError
from mobileca.ca.keys import (
    generate_user_key,
    unwrap_private_key,
    unwrap_sm2_private_key,
    wrap_private_key,
    wrap_sm2_private_key,
)


def _scalar(key: sm2.Sm2PrivateKey) -> bytes:
    """The private scalar d inside the PKCS#8 (ECPrivateKey: version 1, then OCTET STRING of 32 bytes)."""
    at = key.der.index(bytes.fromhex("0201010420")) + 5
    return key.der[at : at + 32]


def _encodings(secret: bytes) -> list[bytes]:
    found = [secret, secret.hex().encode(), secret.hex().upper().encode()]
    for offset in range(3):
        encoded = base64.b64encode(secret[offset:])
        found.append(encoded[4 : len(encoded) - 4])
    return found


def test_an_sm2_key_wraps_and_unwraps_for_its_owner(ca) -> None:
    key = sm2.generate()
    blob = wrap_sm2_private_key(owner_id="cred-sm2-1", key=key)
    restored = unwrap_sm2_private_key(owner_id="cred-sm2-1", blob=blob)
    assert restored == key
    assert key.public_key().verify(restored.sign(b"bid file"), b"bid file")
    assert restored.decrypt(key.public_key().encrypt(b"content key 16 b")) == b"content key 16 b"


def test_an_sm2_blob_opens_for_no_other_owner_and_not_when_tampered(ca) -> None:
    blob = wrap_sm2_private_key(owner_id="cred-sm2-1", key=sm2.generate())
    with pytest.raises(UnwrapError):
        unwrap_sm2_private_key(owner_id="cred-sm2-2", blob=blob)
    for index in (0, len(blob) // 2, len(blob) - 1):
        tampered = blob[:index] + bytes([blob[index] ^ 1]) + blob[index + 1 :]
        with pytest.raises(UnwrapError):
            unwrap_sm2_private_key(owner_id="cred-sm2-1", blob=tampered)
    assert unwrap_sm2_private_key(owner_id="cred-sm2-1", blob=blob)  # the original still opens


def test_an_sm2_blob_holds_no_plaintext_key(ca) -> None:
    key = sm2.generate()
    blob = wrap_sm2_private_key(owner_id="cred-sm2-1", key=key)
    for secret in (_scalar(key), key.der):
        for encoded in _encodings(secret):
            assert encoded not in blob
    assert blob != wrap_sm2_private_key(owner_id="cred-sm2-1", key=key)  # a fresh nonce each time


def test_a_p256_blob_is_not_taken_for_an_sm2_key(ca) -> None:
    blob = wrap_private_key(owner_id="cred-ec", key=generate_user_key())
    with pytest.raises(sm2.Sm2Error):
        unwrap_sm2_private_key(owner_id="cred-ec", blob=blob)
    assert unwrap_private_key(owner_id="cred-ec", blob=blob)  # it is still the P-256 key it was
