"""Two-party SM2 (issue 20, ``mobileca.ca.sm2_cosign``): the service's half with the reference phone half, every
message through JSON as on the wire.

The signatures are checked as ordinary SM2 signatures by peers nobody here wrote: gmssl-pyx (GmSSL) and BouncyCastle
(``tests/java/CosignCheck.java``, compiled once per module); the decryption opens ciphertexts written by our
``sm2``, by gmssl-pyx and by BouncyCastle's ``SM2Engine``. Then the refusals (forged and replayed proofs, bad points
and scalars, a DLEQ proof for another C1, tampered ciphertexts), each leaving the share as it was, and the service
alone: no API of its half signs without the phone, and none of the values it stores holds the private key d (d is
computed here from both shares to be searched for).
"""

from __future__ import annotations

import dataclasses
import json
from types import ModuleType
from typing import Any

import pytest
from asn1crypto.core import Integer, OctetString, Sequence

from mobileca.ca import sm2
from mobileca.ca.sm2_cosign import (
    DECRYPT_TAG,
    CosignRefused,
    PhoneShare,
    ServerShare,
    challenge,
    der_signature,
    parse_ciphertext,
)
from tests.support.cosign_peer import bouncycastle  # noqa: F401 (fixture)

N = sm2.N


def wire(value: Any) -> Any:
    """A message as the other side receives it: through JSON."""
    return json.loads(json.dumps(value))


def pair(session: str = "keygen-session-1") -> tuple[PhoneShare, ServerShare]:
    phone = PhoneShare()
    server, answer = ServerShare.keygen(wire(phone.keygen_message(session)), session)
    phone.accept_public_key(wire(answer))
    return phone, server


def two_party_sign(phone: PhoneShare, server: ServerShare, data: bytes, session: str = "round-1") -> bytes:
    e = phone.digest(data)
    message, pending = phone.sign_message(e, session)
    answer = server.sign_round(e.hex(), wire(message), session)
    return phone.sign_finish(pending, wire(answer))


def two_party_decrypt(phone: PhoneShare, server: ServerShare, ciphertext: bytes, session: str = "dec-1") -> bytes:
    return server.decrypt_round(ciphertext, wire(phone.decrypt_message(ciphertext, session)), session)


def private_scalar(phone: PhoneShare, server: ServerShare) -> int:
    """d = (d1·d2)^-1 − 1: only a test holding both shares can compute it."""
    return (pow(phone.d1 * int.from_bytes(server.d2, "big"), -1, N) - 1) % N


def sm2_cipher(c1: bytes, c3: bytes, c2: bytes) -> bytes:
    """GM/T 0009 SM2Cipher DER, written by asn1crypto (not by our parser's counterpart)."""

    class Sm2Cipher(Sequence):
        _fields = [("x", Integer), ("y", Integer), ("hash", OctetString), ("ciphertext", OctetString)]

    x, y = int.from_bytes(c1[1:33], "big"), int.from_bytes(c1[33:65], "big")
    return Sm2Cipher({"x": x, "y": y, "hash": c3, "ciphertext": c2}).dump()


@pytest.fixture(scope="module")
def keys() -> tuple[PhoneShare, ServerShare]:
    return pair()


@pytest.fixture
def gmssl() -> ModuleType:
    return pytest.importorskip("gmssl_pyx", reason="gmssl-pyx (the second SM2 implementation) is not installed")


# --- key generation -------------------------------------------------------------------------------------------------


def test_key_generation_gives_the_public_key_of_d_and_stores_d2_and_p1(keys: tuple[PhoneShare, ServerShare]) -> None:
    phone, server = keys
    d = private_scalar(phone, server)
    # P is the public key of d = (d1·d2)^-1 − 1, as an independent derivation (OpenSSL from the scalar) says
    assert sm2.Sm2PrivateKey.from_scalar(d.to_bytes(32, "big")).public_key().point == server.public_point
    assert phone.public_key.point == server.public_point
    assert server.p1 == phone.p1 == sm2.point_mul(pow(phone.d1, -1, N))
    assert len(server.d2) == 32 and 1 <= int.from_bytes(server.d2, "big") < N
    assert "d2=" not in repr(server) and repr(server.d2) not in repr(server) and "d1=" not in repr(phone)
    assert str(phone.d1) not in repr(phone) and f"{phone.d1:x}" not in repr(phone)


def test_two_key_generations_give_different_keys() -> None:
    (_, first), (_, second) = pair("kg-a"), pair("kg-b")
    assert first.public_point != second.public_point and first.d2 != second.d2


# --- signatures verified as ordinary SM2 signatures -------------------------------------------------------------


def test_two_party_signatures_verify_as_ordinary_sm2_signatures(keys: tuple[PhoneShare, ServerShare]) -> None:
    phone, server = keys
    public = server.public_key
    for index in range(20):
        data = f"bid file {index}".encode()
        signature = two_party_sign(phone, server, data, f"round-{index}")
        assert public.verify(signature, data)
        assert public.verify_digest(signature, public.digest(data))
        assert not public.verify(signature, data + b"!")
        assert not sm2.generate().public_key().verify(signature, data)


def test_gmssl_verifies_two_party_signatures(keys: tuple[PhoneShare, ServerShare], gmssl: ModuleType) -> None:
    phone, server = keys
    their_public = server.public_point[1:]  # gmssl-pyx takes x||y
    for index in range(10):
        data = bytes(range(index * 7 % 256)) + b"tender JDZ-DEMO-001"
        signature = two_party_sign(phone, server, data, f"gm-{index}")
        assert gmssl.sm2_verify(their_public, data, signature, signer_id=sm2.DEFAULT_ID)
        assert gmssl.sm2_verify_sm3_digest(their_public, phone.digest(data), signature)
        assert not gmssl.sm2_verify(their_public, data + b"x", signature, signer_id=sm2.DEFAULT_ID)


def test_bouncycastle_verifies_two_party_signatures(keys: tuple[PhoneShare, ServerShare], bouncycastle: Any) -> None:
    phone, server = keys
    spki = server.public_key.der.hex()
    checks, data = [], {}
    for index in range(8):
        data[index] = f"opening {index}".encode() * (index + 1)
        signature = two_party_sign(phone, server, data[index], f"bc-{index}").hex()
        checks.append(f"good{index} verify {spki} {data[index].hex()} {signature}")
        checks.append(f"other{index} verify {spki} {(data[index] + b'?').hex()} {signature}")
    said = bouncycastle(checks)
    assert all(said[f"good{index}"] == "OK" for index in range(8)), said
    assert all(said[f"other{index}"] == "FAIL" for index in range(8)), said


# --- decryption -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 16, 32, 33, 100, 255])
def test_two_party_decryption_of_our_ciphertexts(keys: tuple[PhoneShare, ServerShare], length: int) -> None:
    phone, server = keys
    plaintext = bytes((index * 31 + length) % 256 for index in range(length))
    assert two_party_decrypt(phone, server, server.public_key.encrypt(plaintext)) == plaintext


def test_two_party_decryption_of_gmssl_ciphertexts(keys: tuple[PhoneShare, ServerShare], gmssl: ModuleType) -> None:
    phone, server = keys
    for index in range(20):
        plaintext = bytes([index]) * (16 + index)
        ciphertext = gmssl.sm2_encrypt(server.public_point[1:], plaintext)
        assert two_party_decrypt(phone, server, ciphertext, f"gm-dec-{index}") == plaintext


def test_two_party_decryption_of_bouncycastle_ciphertexts(
    keys: tuple[PhoneShare, ServerShare], bouncycastle: Any
) -> None:
    phone, server = keys
    plaintexts = {f"enc{index}": bytes([index + 1]) * (16 + index) for index in range(8)}
    said = bouncycastle(
        [f"{label} encrypt {server.public_point.hex()} {text.hex()}" for label, text in plaintexts.items()]
    )
    for label, plaintext in plaintexts.items():
        raw = bytes.fromhex(said[label].removeprefix("OK "))  # C1 (65) || C3 (32) || C2
        ciphertext = sm2_cipher(raw[:65], raw[65:97], raw[97:])
        assert two_party_decrypt(phone, server, ciphertext, f"bc-{label}") == plaintext


# --- refusals ---------------------------------------------------------------------------------------------------------


def refused(code: str, call: Any, *arguments: Any) -> None:
    with pytest.raises(CosignRefused) as caught:
        call(*arguments)
    assert caught.value.code == code


def test_a_forged_keygen_proof_is_refused() -> None:
    """A phone substituting P1 (here: someone else's public share, or P1 chosen as X − t·G) without knowing its w."""
    honest = PhoneShare()
    victim_p1 = PhoneShare().p1
    message = honest.keygen_message("kg-forge")
    message["p1"] = victim_p1.hex()  # its own proof, another P1
    refused("bad_proof", ServerShare.keygen, wire(message), "kg-forge")
    # a made-up (R, z) for a P1 whose logarithm is unknown
    forged = {"p1": victim_p1.hex(), "proof": {"R": sm2.point_mul(5).hex(), "z": (7).to_bytes(32, "big").hex()}}
    refused("bad_proof", ServerShare.keygen, forged, "kg-forge")


def test_a_keygen_proof_replayed_under_another_session_is_refused() -> None:
    message = PhoneShare().keygen_message("kg-session-A")
    refused("bad_proof", ServerShare.keygen, wire(message), "kg-session-B")
    ServerShare.keygen(wire(message), "kg-session-A")  # the same message is good in its own session


def test_a_sign_proof_replayed_under_another_session_or_another_digest_is_refused(
    keys: tuple[PhoneShare, ServerShare],
) -> None:
    phone, server = keys
    before = dataclasses.asdict(server)
    e, other_e = phone.digest(b"shown to the claimant"), phone.digest(b"something else")
    message, _ = phone.sign_message(e, "sign-A")
    refused("bad_proof", server.sign_round, e.hex(), wire(message), "sign-B")  # replayed into another round
    refused("bad_proof", server.sign_round, other_e.hex(), wire(message), "sign-A")  # for another e
    relabelled = {**wire(message), "e": other_e.hex()}  # the e field changed to match: the proof still binds e
    refused("bad_proof", server.sign_round, other_e.hex(), relabelled, "sign-A")
    refused("bad_proof", server.sign_round, e.hex(), {**wire(message), "e": "00" * 31}, "sign-A")
    assert dataclasses.asdict(server) == before
    server.sign_round(e.hex(), wire(message), "sign-A")  # and it is good where it belongs


def not_on_curve() -> str:
    point = bytearray(sm2.point_mul(3))
    point[-1] ^= 1
    return bytes(point).hex()


@pytest.mark.parametrize(
    "q1",
    [
        not_on_curve(),
        "00",  # the identity's encoding
        "04" + "00" * 64,  # (0, 0) is not on the curve
        "04" + sm2.P.to_bytes(32, "big").hex() + "00" * 32,  # a coordinate out of the field
        "02" + sm2.GX.to_bytes(32, "big").hex(),  # compressed: not the wire encoding
        sm2.point_mul(3).hex().upper(),  # not lowercase
        sm2.point_mul(3).hex()[:-2],  # short
        None,
        12,
    ],
)
def test_a_bad_q1_is_refused(keys: tuple[PhoneShare, ServerShare], q1: Any) -> None:
    phone, server = keys
    e = phone.digest(b"m")
    message, _ = phone.sign_message(e, "s")
    refused("bad_point", server.sign_round, e.hex(), {**wire(message), "q1": q1}, "s")


@pytest.mark.parametrize(
    "z", ["00" * 32, N.to_bytes(32, "big").hex(), (N + 1).to_bytes(32, "big").hex(), "ff" * 32, "01", "", None, 1]
)
def test_out_of_range_scalars_are_refused(keys: tuple[PhoneShare, ServerShare], z: Any) -> None:
    phone, server = keys
    e = phone.digest(b"m")
    message = wire(phone.sign_message(e, "s")[0])
    message["proof"]["z"] = z
    refused("bad_scalar", server.sign_round, e.hex(), message, "s")
    keygen = wire(PhoneShare().keygen_message("k"))
    keygen["proof"]["z"] = z
    refused("bad_scalar", ServerShare.keygen, keygen, "k")


@pytest.mark.parametrize("message", [None, [], {}, {"q1": sm2.point_mul(2).hex()}, {"proof": "x"}])
def test_malformed_sign_messages_are_refused(keys: tuple[PhoneShare, ServerShare], message: Any) -> None:
    _, server = keys
    with pytest.raises(CosignRefused):
        server.sign_round("ab" * 32, message, "s")


def test_a_dleq_proof_for_another_c1_is_refused(keys: tuple[PhoneShare, ServerShare]) -> None:
    phone, server = keys
    first, second = server.public_key.encrypt(b"key one 16 bytes"), server.public_key.encrypt(b"key two 16 bytes")
    message = wire(phone.decrypt_message(first, "dec-x"))
    refused("bad_proof", server.decrypt_round, second, message, "dec-x")
    refused("bad_proof", server.decrypt_round, first, message, "dec-y")  # replayed into another round
    # a T1 that is not w·C1 (here the T1 of the other ciphertext), with the proof for the first
    other_t1 = wire(phone.decrypt_message(second, "dec-x"))["t1"]
    refused("bad_proof", server.decrypt_round, first, {**message, "t1": other_t1}, "dec-x")
    # another phone (another w) cannot make a proof against this key's P1
    refused("bad_proof", server.decrypt_round, first, wire(PhoneShare().decrypt_message(first, "dec-x")), "dec-x")
    assert server.decrypt_round(first, message, "dec-x") == b"key one 16 bytes"


def test_the_real_phone_sending_a_t1_other_than_w_c1_is_refused(keys: tuple[PhoneShare, ServerShare]) -> None:
    """The phone knows w and proves it on G, but its T1 is not w·C1 (say, to use the service as a d2^-1 oracle on a
    point of its choice): the C1 half of the DLEQ check refuses it."""
    phone, server = keys
    ciphertext = server.public_key.encrypt(b"sixteen byte key")
    c1 = parse_ciphertext(ciphertext)[0]
    w, t = pow(phone.d1, -1, N), 12345
    for t1 in (sm2.point_mul(2 * w % N, c1), sm2.point_mul(777)):
        a_point, b_point = sm2.point_mul(t), sm2.point_mul(t, c1)
        z = (t + challenge(DECRYPT_TAG, "o", phone.p1, c1, t1, a_point, b_point) * w) % N
        assert sm2.point_mul(z) == sm2.point_add(
            a_point, sm2.point_mul(challenge(DECRYPT_TAG, "o", phone.p1, c1, t1, a_point, b_point), phone.p1)
        )  # the G half holds
        proof = {"A": a_point.hex(), "B": b_point.hex(), "z": z.to_bytes(32, "big").hex()}
        refused("bad_proof", server.decrypt_round, ciphertext, {"t1": t1.hex(), "proof": proof}, "o")


def _tamper(ciphertext: bytes, part: str) -> bytes:
    parsed = Sequence.load(ciphertext)
    x, y, c3, c2 = (parsed[index].contents for index in range(4))
    c1 = b"\x04" + int.from_bytes(x, "big").to_bytes(32, "big") + int.from_bytes(y, "big").to_bytes(32, "big")
    c3 = bytes([c3[0] ^ 1]) + c3[1:] if part == "c3" else c3
    c2 = c2[:-1] + bytes([c2[-1] ^ 0x80]) if part == "c2" else c2
    return sm2_cipher(c1, c3, c2)


@pytest.mark.parametrize("part", ["c3", "c2"])
def test_a_tampered_c3_or_c2_is_refused(keys: tuple[PhoneShare, ServerShare], part: str) -> None:
    phone, server = keys
    ciphertext = server.public_key.encrypt(b"the content key!")
    tampered = _tamper(ciphertext, part)
    assert tampered != ciphertext
    # the phone's message is honest (C1 is unchanged): the ciphertext itself is refused
    refused("bad_ciphertext", server.decrypt_round, tampered, wire(phone.decrypt_message(tampered, "t")), "t")
    with pytest.raises(sm2.Sm2Error):  # OpenSSL agrees, with the whole key
        sm2.Sm2PrivateKey.from_scalar(private_scalar(phone, server).to_bytes(32, "big")).decrypt(tampered)


@pytest.mark.parametrize(
    "damage",
    [
        lambda c: c[:-1],  # truncated
        lambda c: c + b"\x00",  # trailing byte
        lambda c: b"\x31" + c[1:],  # a SET, not a SEQUENCE
        lambda c: b"",
        lambda c: "not bytes",
    ],
)
def test_malformed_ciphertexts_are_refused(keys: tuple[PhoneShare, ServerShare], damage: Any) -> None:
    phone, server = keys
    ciphertext = server.public_key.encrypt(b"sixteen byte key")
    message = wire(phone.decrypt_message(ciphertext, "m"))
    refused("bad_ciphertext", server.decrypt_round, damage(ciphertext), message, "m")


def test_a_ciphertext_whose_c1_is_off_the_curve_is_refused(keys: tuple[PhoneShare, ServerShare]) -> None:
    _, server = keys
    ciphertext = sm2_cipher(bytes.fromhex(not_on_curve()), b"\x00" * 32, b"sixteen byte key")
    message = {"t1": sm2.point_mul(2).hex(), "proof": {"A": sm2.point_mul(3).hex(), "B": sm2.point_mul(4).hex(),
                                                        "z": "01" * 32}}  # fmt: skip
    refused("bad_ciphertext", server.decrypt_round, ciphertext, message, "m")


def test_the_phone_refuses_a_tampered_answer(keys: tuple[PhoneShare, ServerShare]) -> None:
    phone, server = keys
    e = phone.digest(b"shown")
    message, pending = phone.sign_message(e, "p")
    answer = server.sign_round(e.hex(), wire(message), "p")
    s3 = int(answer["s3"], 16)
    refused(
        "bad_signature", phone.sign_finish, pending, {**answer, "s3": ((s3 % (N - 1)) + 1).to_bytes(32, "big").hex()}
    )
    refused("bad_scalar", phone.sign_finish, pending, {**answer, "r": "00" * 32})
    assert server.public_key.verify_digest(phone.sign_finish(pending, answer), e)


def test_a_stored_share_out_of_range_is_refused(keys: tuple[PhoneShare, ServerShare]) -> None:
    _, server = keys
    refused("bad_scalar", ServerShare, b"\x00" * 32, server.p1, server.public_point)
    refused("bad_scalar", ServerShare, N.to_bytes(32, "big"), server.p1, server.public_point)
    refused("bad_point", ServerShare, server.d2, bytes.fromhex(not_on_curve()), server.public_point)


# --- the service alone ------------------------------------------------------------------------------------------------


def test_the_service_half_has_no_way_to_sign_alone(keys: tuple[PhoneShare, ServerShare]) -> None:
    phone, server = keys
    public = {name for name in dir(server) if not name.startswith("_")}
    assert public == {"d2", "p1", "public_point", "public_key", "keygen", "sign_round", "decrypt_round"}
    e = phone.digest(b"the service wants to sign this alone")
    for message in (None, {}, {"e": e.hex()}):
        with pytest.raises(CosignRefused):
            server.sign_round(e.hex(), message, "alone")
    # what a round gives the service (r, s2, s3) is no signature: the phone's d1 and k1 are missing
    message, _ = phone.sign_message(e, "alone")
    answer = server.sign_round(e.hex(), wire(message), "alone")
    r, s2, s3 = (int(answer[name], 16) for name in ("r", "s2", "s3"))
    for s in (s2, s3, (s2 + s3) % N, (s2 + s3 - r) % N):
        assert not server.public_key.verify_digest(der_signature(r, s), e)


def test_no_stored_value_holds_the_private_key(keys: tuple[PhoneShare, ServerShare]) -> None:
    phone, server = keys
    d = private_scalar(phone, server)
    key_equivalent = pow(phone.d1 * int.from_bytes(server.d2, "big"), -1, N)  # 1 + d
    pkcs8 = sm2.Sm2PrivateKey.from_scalar(d.to_bytes(32, "big")).der
    assert sm2.point_mul(d) == server.public_point  # the d searched for is the real one
    stored = [server.d2, server.p1, server.public_point, server.public_key.der]
    dump = b"".join(stored) + b"".join(value.hex().encode() for value in stored)
    dump += json.dumps({name: value.hex() for name, value in dataclasses.asdict(server).items()}).encode()
    for secret in (d, key_equivalent, (pow(key_equivalent, -1, N))):  # d, 1 + d, and d1·d2 (which gives d)
        raw = secret.to_bytes(32, "big")
        for needle in (raw, raw[::-1], raw.hex().encode(), raw.hex().upper().encode()):
            assert needle not in dump
    assert pkcs8 not in dump and pkcs8.hex().encode() not in dump


# --- the point arithmetic under it, and threads ----------------------------------------------------------------------


def _affine_add(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
    """Textbook affine addition on y² = x³ + ax + b (None = the identity): slow, but written apart from OpenSSL."""
    p = sm2.P
    if a is None or b is None:
        return b if a is None else a
    if a[0] == b[0] and (a[1] + b[1]) % p == 0:
        return None
    if a == b:
        slope = (3 * a[0] * a[0] + sm2.A) * pow(2 * a[1], -1, p) % p
    else:
        slope = (b[1] - a[1]) * pow(b[0] - a[0], -1, p) % p
    x = (slope * slope - a[0] - b[0]) % p
    return x, (slope * (a[0] - x) - a[1]) % p


def _affine_mul(k: int, point: tuple[int, int] | None) -> tuple[int, int] | None:
    result = None
    for bit in bin(k)[2:]:
        result = _affine_add(result, result)
        if bit == "1":
            result = _affine_add(result, point)
    return result


def _encoded(point: tuple[int, int] | None) -> bytes:
    return sm2.INFINITY if point is None else b"\x04" + point[0].to_bytes(32, "big") + point[1].to_bytes(32, "big")


def test_the_point_arithmetic_matches_textbook_affine_arithmetic() -> None:
    g = (sm2.GX, sm2.GY)
    for a, b in ((3, 5), (N - 1, 1), (2**255 + 12345, 7), (1, N - 1)):
        pa, pb = _affine_mul(a, g), _affine_mul(b, g)
        assert sm2.point_mul(a) == _encoded(pa)
        assert sm2.point_mul(b, _encoded(pa)) == _encoded(_affine_mul(a * b % N, g))
        assert sm2.point_add(_encoded(pa), _encoded(pb)) == _encoded(_affine_add(pa, pb))
        assert sm2.point_sub(_encoded(pa), _encoded(pb)) == _encoded(_affine_mul((a - b) % N, g))
        assert sm2.point_lincomb(a, b, _encoded(pb)) == _encoded(_affine_mul((a + b * b) % N, g))
    assert sm2.point_mul(0) == sm2.INFINITY and sm2.point_sub(sm2.point_mul(9), sm2.point_mul(9)) == sm2.INFINITY
    for bad in (N, -1):
        with pytest.raises(sm2.Sm2Error):
            sm2.point_mul(bad)
    with pytest.raises(sm2.Sm2Error):
        sm2.point_add(bytes.fromhex(not_on_curve()), sm2.point_mul(1))


def test_two_party_rounds_in_threads(keys: tuple[PhoneShare, ServerShare]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    phone, server = keys

    def one(index: int) -> bool:
        data = f"thread {index}".encode()
        signature = two_party_sign(phone, server, data, f"thread-{index}")
        plaintext = two_party_decrypt(phone, server, server.public_key.encrypt(data), f"thread-dec-{index}")
        return server.public_key.verify(signature, data) and plaintext == data

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(one, range(24)))
