"""SM2/SM3/SM4 primitives (issue 19): known-answer vectors, a second implementation both ways, and refusals.

Known answers: SM3 from GB/T 32905-2016 Annex A, SM4 from GB/T 32907-2016 Annex A, SM2 from GM/T 0003.5-2012 /
GB/T 32918.5-2016 Annex A (signature) and Annex C (encryption), which use the recommended curve and the default ID
1234567812345678. The second implementation is gmssl-pyx (GmSSL, an independent code base).
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from mobileca.ca import sm2

# GM/T 0003.5-2012 Annex A / GB/T 32918.5-2016 Annex A: signature on the recommended curve, ID 1234567812345678.
KAT_D = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
KAT_X = bytes.fromhex("09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020")
KAT_Y = bytes.fromhex("CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13")
KAT_Z = bytes.fromhex("B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3")
KAT_E = bytes.fromhex("F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640")
KAT_R = bytes.fromhex("F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3")
KAT_S = bytes.fromhex("B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA")
KAT_MESSAGE = b"message digest"
# Annex C: "encryption standard" under the same key with k = 59276E27…, in GM/T 0009 SM2Cipher DER.
KAT_CIPHERTEXT = bytes.fromhex(
    "307C"
    "0220" "04EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73"
    "022100" "E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0"
    "0420" "59983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766"
    "0413" "21886CA989CA9C7D58087307CA93092D651EFA"
)  # fmt: skip


def _der_integer(value: bytes) -> bytes:
    value = value.lstrip(b"\x00") or b"\x00"
    if value[0] & 0x80:
        value = b"\x00" + value
    return bytes([0x02, len(value)]) + value


def _der_signature(r: bytes, s: bytes) -> bytes:
    body = _der_integer(r) + _der_integer(s)
    return bytes([0x30, len(body)]) + body


def _tlvs(der: bytes) -> list[tuple[int, int, int]]:
    """The (tag, content offset, content length) of each element directly inside a DER SEQUENCE."""

    def header(offset: int) -> tuple[int, int, int]:
        tag, first = der[offset], der[offset + 1]
        if first < 0x80:
            return tag, offset + 2, first
        count = first & 0x7F
        return tag, offset + 2 + count, int.from_bytes(der[offset + 2 : offset + 2 + count], "big")

    _, offset, length = header(0)
    end, found = offset + length, []
    while offset < end:
        tag, start, length = header(offset)
        found.append((tag, start, length))
        offset = start + length
    return found


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


@pytest.fixture(scope="module")
def kat_key() -> sm2.Sm2PrivateKey:
    return sm2.Sm2PrivateKey.from_scalar(KAT_D)


@pytest.fixture(scope="module")
def key() -> sm2.Sm2PrivateKey:
    return sm2.generate()


@pytest.fixture
def gmssl() -> ModuleType:
    return pytest.importorskip("gmssl_pyx", reason="gmssl-pyx (the second SM2 implementation) is not installed")


# --- known answers ---------------------------------------------------------------------------------------------


def test_sm3_matches_gbt_32905_examples() -> None:
    assert sm2.sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert sm2.sm3(b"abcd" * 16).hex() == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_sm4_matches_gbt_32907_example() -> None:
    key = plaintext = bytes.fromhex("0123456789abcdeffedcba9876543210")
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()  # noqa: S305 - one block, the standard's example
    assert (encryptor.update(plaintext) + encryptor.finalize()).hex() == "681edf34d206965e86b3e94f536e4246"


def test_sm2_public_key_z_and_e_match_the_gmt_0003_annex_a_example(kat_key: sm2.Sm2PrivateKey) -> None:
    public = kat_key.public_key()
    assert public.point == b"\x04" + KAT_X + KAT_Y
    assert public.z() == public.z(sm2.DEFAULT_ID) == KAT_Z
    assert public.digest(KAT_MESSAGE) == KAT_E


def test_the_published_annex_a_signature_verifies_and_a_forged_one_does_not(kat_key: sm2.Sm2PrivateKey) -> None:
    public = sm2.Sm2PublicKey.from_point(b"\x04" + KAT_X + KAT_Y)
    published = _der_signature(KAT_R, KAT_S)
    assert public.verify(published, KAT_MESSAGE)
    assert public.verify_digest(published, KAT_E)
    assert not public.verify(published, b"message digesT")
    assert not public.verify(_der_signature(KAT_R, (int.from_bytes(KAT_S, "big") + 1).to_bytes(32, "big")), KAT_MESSAGE)


def test_the_published_annex_c_ciphertext_decrypts(kat_key: sm2.Sm2PrivateKey) -> None:
    assert kat_key.decrypt(KAT_CIPHERTEXT) == b"encryption standard"


def test_our_signatures_over_the_annex_message_verify_and_are_randomised(kat_key: sm2.Sm2PrivateKey) -> None:
    first, second = kat_key.sign(KAT_MESSAGE), kat_key.sign(KAT_MESSAGE)
    assert first != second  # a fresh nonce k each time
    public = kat_key.public_key()
    assert public.verify(first, KAT_MESSAGE) and public.verify(second, KAT_MESSAGE)
    assert public.verify_digest(first, KAT_E)


def test_ciphertext_is_gmt_0009_sm2cipher_der(key: sm2.Sm2PrivateKey) -> None:
    plaintext = b"a 16-byte SM4 k!"
    ciphertext = key.public_key().encrypt(plaintext)
    elements = _tlvs(ciphertext)
    assert ciphertext[0] == 0x30
    assert [tag for tag, _, _ in elements] == [0x02, 0x02, 0x04, 0x04]  # x, y, C3, C2
    (_, x_at, x_len), (_, y_at, y_len), (_, _, c3_len), (_, _, c2_len) = elements
    x = int.from_bytes(ciphertext[x_at : x_at + x_len], "big")
    y = int.from_bytes(ciphertext[y_at : y_at + y_len], "big")
    assert sm2._on_curve(x, y)  # C1 is a point of the curve
    assert (c3_len, c2_len) == (32, len(plaintext))  # C3 is SM3, C2 as long as the plaintext
    assert key.decrypt(ciphertext) == plaintext


# --- a second implementation, both ways --------------------------------------------------------------------------


def test_gmssl_signatures_verify_with_ours_and_ours_with_gmssl(gmssl: ModuleType) -> None:
    their_public, their_private = gmssl.sm2_key_generate()
    ours = sm2.Sm2PrivateKey.from_scalar(their_private)
    assert ours.public_key().point == b"\x04" + their_public
    message = "招标文件 bid file".encode() * 20

    theirs = gmssl.sm2_sign(their_private, their_public, message, signer_id=sm2.DEFAULT_ID)
    assert ours.public_key().verify(theirs, message)
    assert not ours.public_key().verify(theirs, message, id=b"ALICE123@YAHOO.COM")

    mine = ours.sign(message)
    assert gmssl.sm2_verify(their_public, message, mine, signer_id=sm2.DEFAULT_ID)
    assert not gmssl.sm2_verify(their_public, message, mine, signer_id=b"ALICE123@YAHOO.COM")

    other_id = ours.sign(message, id=b"ALICE123@YAHOO.COM")
    assert gmssl.sm2_verify(their_public, message, other_id, signer_id=b"ALICE123@YAHOO.COM")
    assert not gmssl.sm2_verify(their_public, message, other_id, signer_id=sm2.DEFAULT_ID)


def test_gmssl_digest_signatures_interoperate_both_ways(gmssl: ModuleType) -> None:
    their_public, their_private = gmssl.sm2_key_generate()
    ours = sm2.Sm2PrivateKey.from_scalar(their_private)
    e = ours.public_key().digest(b"signHash input")
    assert ours.public_key().verify_digest(gmssl.sm2_sign_sm3_digest(their_private, e), e)
    assert gmssl.sm2_verify_sm3_digest(their_public, e, ours.sign_digest(e))
    # what gmssl signs as a message (Z and all) is what our digest path computes
    assert ours.public_key().verify_digest(
        gmssl.sm2_sign(their_private, their_public, b"m"), ours.public_key().digest(b"m")
    )


def test_gmssl_ciphertexts_decrypt_with_ours_and_ours_with_gmssl(gmssl: ModuleType) -> None:
    their_public, their_private = gmssl.sm2_key_generate()
    ours = sm2.Sm2PrivateKey.from_scalar(their_private)
    for plaintext in (b"k", bytes(range(16)), bytes(range(255))):
        assert ours.decrypt(gmssl.sm2_encrypt(their_public, plaintext)) == plaintext
        assert gmssl.sm2_decrypt(their_private, ours.public_key().encrypt(plaintext)) == plaintext


def test_gmssl_refuses_a_ciphertext_of_ours_for_another_key(gmssl: ModuleType) -> None:
    _, their_private = gmssl.sm2_key_generate()
    ciphertext = sm2.generate().public_key().encrypt(b"not for gmssl's key")
    with pytest.raises(gmssl.GmsslInnerError):
        gmssl.sm2_decrypt(their_private, ciphertext)


# --- signatures: round trips and refusals -----------------------------------------------------------------------


def test_sign_digest_of_the_public_digest_verifies_as_a_message_signature(key: sm2.Sm2PrivateKey) -> None:
    public, message = key.public_key(), b"x" * 1000
    assert public.verify(key.sign_digest(public.digest(message)), message)
    assert public.verify_digest(key.sign(message), public.digest(message))
    assert public.verify_digest(key.sign_digest(bytes(32)), bytes(32))
    assert not public.verify_digest(key.sign_digest(bytes(32)), bytes(31) + b"\x01")


def test_a_non_default_id_is_hashed_into_z_as_gmt_0003_says(key: sm2.Sm2PrivateKey) -> None:
    # A 300-byte ID has an ENTL above 255 (both length bytes used): OpenSSL's Z and ours must agree.
    public, long_id = key.public_key(), bytes(range(256)) + b"0123456789" * 4 + b"ABCD"
    signature = key.sign(b"m", id=long_id)
    assert public.verify(signature, b"m", id=long_id)
    assert public.verify_digest(signature, public.digest(b"m", id=long_id))
    assert not public.verify(signature, b"m")


def test_a_signature_under_another_id_is_refused(kat_key: sm2.Sm2PrivateKey) -> None:
    signature = kat_key.sign(KAT_MESSAGE, id=b"ALICE123@YAHOO.COM")
    public = kat_key.public_key()
    assert not public.verify(signature, KAT_MESSAGE)
    assert public.verify(signature, KAT_MESSAGE, id=b"ALICE123@YAHOO.COM")


def test_a_signature_under_the_empty_id_is_refused_and_the_empty_id_is_never_used(key: sm2.Sm2PrivateKey) -> None:
    # OpenSSL 3.0's own default: Z over an empty ID. Such a signature must not pass for a GM/T 0009 one.
    public = key.public_key()
    empty_id_signature = key.sign_digest(public.digest(b"m", id=b""))
    assert public.verify_digest(empty_id_signature, public.digest(b"m", id=b""))  # it is a valid empty-ID one
    assert not public.verify(empty_id_signature, b"m")
    with pytest.raises(sm2.Sm2Error):
        key.sign(b"m", id=b"")
    with pytest.raises(sm2.Sm2Error):
        public.verify(empty_id_signature, b"m", id=b"")
    with pytest.raises(sm2.Sm2Error):
        key.sign(b"m", id=b"x" * 8192)  # ENTL counts bits on two bytes


def test_tampered_truncated_or_padded_signatures_are_refused(key: sm2.Sm2PrivateKey) -> None:
    public, signature = key.public_key(), key.sign(b"m")
    assert public.verify(signature, b"m")
    (_, r_at, _), (_, s_at, s_len) = _tlvs(signature)
    assert not public.verify(_flip(signature, r_at + 5), b"m")  # r
    assert not public.verify(_flip(signature, s_at + s_len - 1), b"m")  # s
    assert not public.verify(signature[:-1], b"m")
    assert not public.verify(signature + b"\x00", b"m")  # DER is strict: no trailing bytes
    assert not public.verify(b"", b"m")
    assert not public.verify(b"\x30\x00", b"m")
    assert not public.verify(bytes(64), b"m")  # raw r||s is not the DER form


def test_a_signature_with_another_key_is_refused(key: sm2.Sm2PrivateKey) -> None:
    other = sm2.generate()
    assert not other.public_key().verify(key.sign(b"m"), b"m")
    assert not other.public_key().verify_digest(key.sign_digest(bytes(32)), bytes(32))


def test_digests_of_the_wrong_length_are_refused(key: sm2.Sm2PrivateKey) -> None:
    with pytest.raises(sm2.Sm2Error):
        key.sign_digest(bytes(20))
    with pytest.raises(sm2.Sm2Error):
        key.public_key().verify_digest(key.sign_digest(bytes(32)), bytes(33))


# --- encryption: round trips and refusals -----------------------------------------------------------------------


def test_encryption_round_trips_short_and_long_plaintexts(key: sm2.Sm2PrivateKey) -> None:
    for plaintext in (b"\x00", bytes(range(256)) * 40):
        ciphertext = key.public_key().encrypt(plaintext)
        assert len(plaintext) < 2 or plaintext[:32] not in ciphertext
        assert key.decrypt(ciphertext) == plaintext
    with pytest.raises(sm2.Sm2Error):
        key.public_key().encrypt(b"")


@pytest.mark.parametrize("region", ["C1.x", "C1.y", "C3", "C2"])
def test_a_ciphertext_tampered_in_any_region_is_refused(key: sm2.Sm2PrivateKey, region: str) -> None:
    ciphertext = key.public_key().encrypt(b"content-encryption key 16")
    offsets = dict(zip(["C1.x", "C1.y", "C3", "C2"], _tlvs(ciphertext), strict=True))
    _, start, length = offsets[region]
    for index in (start, start + length // 2, start + length - 1):
        with pytest.raises(sm2.Sm2Error):
            key.decrypt(_flip(ciphertext, index))
    assert key.decrypt(ciphertext) == b"content-encryption key 16"  # the original still opens


def test_a_ciphertext_with_c1_swapped_for_another_curve_point_is_refused(key: sm2.Sm2PrivateKey) -> None:
    ciphertext = key.public_key().encrypt(b"sixteen byte key")
    _, _, (_, c3_at, _), _ = _tlvs(ciphertext)
    point = sm2.generate().public_key().point  # a valid point: only C3 can catch it
    body = _der_integer(point[1:33]) + _der_integer(point[33:]) + ciphertext[c3_at - 2 :]
    swapped = b"\x30" + bytes([len(body)]) + body
    with pytest.raises(sm2.Sm2Error):
        key.decrypt(swapped)


def test_a_ciphertext_for_another_key_and_junk_are_refused(key: sm2.Sm2PrivateKey) -> None:
    other = sm2.generate().public_key().encrypt(b"sixteen byte key")
    for refused in (other, b"", b"\x30\x00", KAT_CIPHERTEXT, KAT_CIPHERTEXT + b"\x00", bytes(100)):
        with pytest.raises(sm2.Sm2Error):
            key.decrypt(refused)


# --- keys ---------------------------------------------------------------------------------------------------------


def test_keys_round_trip_through_their_der(key: sm2.Sm2PrivateKey) -> None:
    public = key.public_key()
    assert public.der.startswith(bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200"))
    assert sm2.load_public(public.der) == public
    assert sm2.load_private(key.der) == key
    assert sm2.load_private(key.der).public_key() == public
    assert sm2.Sm2PublicKey.from_point(public.point) == public


def test_a_compressed_point_key_is_read_and_written_uncompressed(key: sm2.Sm2PrivateKey) -> None:
    point = key.public_key().point
    compressed = bytes([2 + point[-1] % 2]) + point[1:33]
    spki = bytes.fromhex("3039301306072a8648ce3d020106082a811ccf5501822d032200") + compressed
    assert sm2.load_public(spki) == key.public_key()


def _p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.mark.parametrize(
    "der",
    [
        _p256().private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        b"",
        b"not a key",
        bytes(67),
    ],
    ids=["p256-pkcs8", "rsa-pkcs8", "empty", "text", "zeros"],
)
def test_non_sm2_private_keys_are_refused(der: bytes) -> None:
    with pytest.raises(sm2.Sm2Error):
        sm2.load_private(der)
    with pytest.raises(sm2.Sm2Error):
        sm2.Sm2PrivateKey(der)


def test_non_sm2_public_keys_and_bad_points_are_refused(key: sm2.Sm2PrivateKey) -> None:
    p256 = _p256().public_key()
    with pytest.raises(sm2.Sm2Error):
        sm2.load_public(p256.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(sm2.Sm2Error):
        sm2.load_public(key.public_key().der + b"\x00")  # trailing bytes
    with pytest.raises(sm2.Sm2Error):
        sm2.load_public(key.der)  # a private key is not a SubjectPublicKeyInfo
    point = key.public_key().point
    for bad in (point[:-1], b"\x02" + point[1:33], _flip(point, 64), p256.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )):  # fmt: skip
        with pytest.raises(sm2.Sm2Error):
            sm2.Sm2PublicKey.from_point(bad)
    with pytest.raises(sm2.Sm2Error):
        sm2.Sm2PublicKey(sm2._SPKI_PREFIX + _flip(point, 64))  # off the curve, even when built by hand


def test_private_scalars_out_of_range_are_refused() -> None:
    for scalar in (0, sm2.N - 1, sm2.N, 2**256 - 1):
        with pytest.raises(sm2.Sm2Error):
            sm2.Sm2PrivateKey.from_scalar(scalar.to_bytes(32, "big"))
    assert sm2.Sm2PrivateKey.from_scalar((sm2.N - 2).to_bytes(32, "big")).public_key().point[0] == 4
    with pytest.raises(sm2.Sm2Error):
        sm2.Sm2PrivateKey.from_scalar(KAT_D[1:])


def test_a_private_key_never_shows_in_its_repr(kat_key: sm2.Sm2PrivateKey) -> None:
    shown = repr(kat_key) + str(kat_key)
    assert KAT_D.hex() not in shown.lower()
    assert kat_key.der.hex() not in shown.lower()


def test_keys_pickle_by_their_der(key: sm2.Sm2PrivateKey) -> None:
    import pickle

    restored = pickle.loads(pickle.dumps(key))  # noqa: S301 - our own object
    assert restored == key and restored.public_key().verify(restored.sign(b"m"), b"m")


# --- the library ----------------------------------------------------------------------------------------------------


def test_threads_signing_at_once_all_make_valid_signatures(key: sm2.Sm2PrivateKey) -> None:
    public = key.public_key()
    other = sm2.generate()

    def work(index: int) -> bool:
        message = f"message {index}".encode()
        signer = key if index % 2 else other
        signature = signer.sign(message)
        ciphertext = signer.public_key().encrypt(message)
        return signer.public_key().verify(signature, message) and signer.decrypt(ciphertext) == message

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(400)))
    assert results == [True] * 400
    assert public.verify(key.sign(b"after"), b"after")


def test_the_module_loads_no_django_and_uses_openssl_3() -> None:
    code = (
        "import sys; from mobileca.ca import sm2; k = sm2.generate(); assert k.public_key().verify(k.sign(b'm'), b'm');"
        "assert 'django' not in sys.modules; v = sm2._load().OpenSSL_version_num(); assert 0x30000000 <= v < 0x40000000"
    )
    subprocess.run([sys.executable, "-c", code], check=True)  # noqa: S603 - fixed arguments


def test_a_pkcs8_whose_public_key_is_another_keys_is_refused_on_load(key: sm2.Sm2PrivateKey) -> None:
    assert key.der[-65:] == key.public_key().point  # the canonical PKCS#8 carries the public key last
    mismatched = key.der[:-65] + sm2.generate().public_key().point
    with pytest.raises(sm2.Sm2Error):
        sm2.load_private(mismatched)
    with pytest.raises(sm2.Sm2Error):
        sm2.load_private(key.der + b"\x00")  # trailing bytes
    bare = key.der[key.der.index(bytes.fromhex("0201010420")) - 2 :]  # the inner ECPrivateKey alone
    with pytest.raises(sm2.Sm2Error):
        sm2.load_private(bare)
    assert sm2.load_private(key.der) == key
