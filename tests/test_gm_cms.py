"""Bid files under the SM2 profile (issue 19): GB/T 35275 SignedData (SM3 + SM2, detached) and SM2 key-transport
envelopes with SM4-CBC or SM4-GCM, streamed in constant memory; every flavour written, every flavour read, and
every tampering refused with nothing left behind."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import algos, cms, core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mobileca.ca import sm2
from mobileca.cmslib import gm
from tests.support import gm as fixtures

FLAVOURS = list(gm.FLAVOURS.values())
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def ca() -> fixtures.Party:
    return fixtures.root()


@pytest.fixture(scope="module")
def bidder(ca: fixtures.Party) -> fixtures.Party:
    return fixtures.signer(ca)


@pytest.fixture(scope="module")
def opener(ca: fixtures.Party) -> fixtures.Party:
    """The encryption certificate the bid is sealed for."""
    return fixtures.encipherer(ca)


class Pattern(io.RawIOBase):
    """A plaintext of ``size`` bytes that is never held whole: a 32-byte period generated as it is read (the same
    bytes whatever the reads), with ``step`` as the most one read returns (a pipe gives less than asked)."""

    def __init__(self, size: int, step: int = 1 << 20) -> None:
        self.left, self.step, self.at = size, step, 0
        self.block = hashlib.sha256(b"bid").digest() * (step // 32 + 2)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.left, self.step)
        start = self.at % 32
        buffer[:count] = self.block[start : start + count]
        self.left -= count
        self.at += count
        return count


def _sign(
    content: bytes, bidder: fixtures.Party, ca: fixtures.Party, flavour: gm.Flavour = gm.RFC5652
) -> tuple[bytes, bytes]:
    """(p7s, attributes) made the platform's way: attributes → hash → remote signHash → assembled."""
    digest = gm.sm3_of(io.BytesIO(content))
    attributes = gm.signed_attributes(content_digest=digest, flavour=flavour)
    signature = bidder.key.sign_digest(gm.attributes_hash(attributes, bidder.certificate))
    p7s = gm.detached_signed_data(
        attributes_der=attributes,
        signature=signature,
        signer_der=bidder.certificate,
        chain_der=[ca.certificate],
        flavour=flavour,
    )
    return p7s, attributes


def _signer_info(p7s: bytes) -> tuple[str, cms.SignedData, cms.SignerInfo]:
    outer = gm._ContentInfo.load(p7s)
    signed = gm._parse(outer["content"], cms.SignedData)
    return outer["content_type"].dotted, signed, signed["signer_infos"][0]


def _seal(
    content: bytes, opener: fixtures.Party, folder: Path, *, mode: str, flavour: gm.Flavour = gm.RFC5652
) -> tuple[gm.Sealed, Path]:
    ciphertext = folder / "bid.bin"
    with ciphertext.open("wb") as sink:
        sealed = gm.seal(io.BytesIO(content), sink, opener.certificate, mode=mode, flavour=flavour)
    return sealed, ciphertext


def _open(sealed_header: bytes, ciphertext: Path, target: Path, opener: fixtures.Party, **kwargs: Any) -> Any:
    with ciphertext.open("rb") as source:
        return gm.open_to_file(
            sealed_header, source, target, recipient=opener.certificate, unwrap=opener.unwrap, **kwargs
        )


# --- SM3 -----------------------------------------------------------------------------------------------------------


def test_streamed_sm3_matches_the_gbt_32905_vector_and_the_one_shot_value() -> None:
    assert gm.sm3_of(io.BytesIO(b"abc")).hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    data = os.urandom(5 * MiB + 3)
    assert gm.sm3_of(Pattern(len(data))) == sm2.sm3(Pattern(len(data)).read())
    assert gm.sm3_of(io.BytesIO(data)) == sm2.sm3(data)


# --- SignedData ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS, ids=lambda flavour: flavour.name)
def test_a_detached_signed_data_verifies_in_every_flavour_and_carries_the_flavours_oids(
    flavour: gm.Flavour, bidder: fixtures.Party, ca: fixtures.Party
) -> None:
    content = b"bid of the lighting tender\n" * 1000
    p7s, _ = _sign(content, bidder, ca, flavour)

    assert gm.verify_detached(p7s, sm2.sm3(content)) == bidder.certificate
    assert gm.signed_digest(p7s) == sm2.sm3(content)
    content_type, signed, signer = _signer_info(p7s)
    gm_types = flavour.gm_content_types
    assert content_type == ("1.2.156.10197.6.1.4.2.2" if gm_types else "1.2.840.113549.1.7.2")
    data_oid = "1.2.156.10197.6.1.4.2.1" if gm_types else "1.2.840.113549.1.7.1"
    assert signed["encap_content_info"]["content_type"].dotted == data_oid
    assert signed["encap_content_info"]["content"].native is None  # detached
    assert signed["digest_algorithms"][0]["algorithm"].dotted == "1.2.156.10197.1.401"
    assert signer["digest_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.401"
    expected_signature = "1.2.156.10197.1.301.1" if flavour is gm.OFDRW else "1.2.156.10197.1.501"
    assert signer["signature_algorithm"]["algorithm"].dotted == expected_signature
    assert int(signed["version"]) == 1 and int(signer["version"]) == 1
    attributes = {attribute["type"].dotted: attribute["values"][0] for attribute in signer["signed_attrs"]}
    assert attributes["1.2.840.113549.1.9.3"].dotted == data_oid  # contentType
    assert attributes["1.2.840.113549.1.9.4"].native == sm2.sm3(content)  # messageDigest
    assert "1.2.840.113549.1.9.5" in attributes  # signingTime
    assert [cert.chosen.dump() for cert in signed["certificates"]] == [bidder.certificate, ca.certificate]


def test_the_hash_signed_remotely_is_sm3_of_z_and_the_der_attributes_so_an_ordinary_sm2_signature_verifies(
    bidder: fixtures.Party,
) -> None:
    attributes = gm.signed_attributes(
        content_digest=sm2.sm3(b"x"), signing_time=datetime(2026, 12, 4, 8, 30, tzinfo=UTC)
    )
    e = gm.attributes_hash(attributes, bidder.certificate)

    public = bidder.key.public_key()
    assert e == sm2.sm3(public.z(sm2.DEFAULT_ID) + attributes)
    assert public.verify(bidder.key.sign_digest(e), attributes, sm2.DEFAULT_ID)
    assert e != sm2.sm3(_z_of_the_empty_id(public) + attributes)  # the ID is part of it, never left empty
    with pytest.raises(ValueError, match="SET OF"):
        gm.attributes_hash(attributes[1:], bidder.certificate)


def _z_of_the_empty_id(public: sm2.Sm2PublicKey) -> bytes:
    """Z_A as OpenSSL 3.0 computes it when no ID is set (ENTL = 0): what a careless signer commits to."""
    curve = b"".join(value.to_bytes(32, "big") for value in (sm2.A, sm2.B, sm2.GX, sm2.GY))
    return sm2.sm3(b"\x00\x00" + curve + public.point[1:])


def test_a_signature_made_by_the_full_sm2_sign_call_verifies_too(bidder: fixtures.Party, ca: fixtures.Party) -> None:
    digest = sm2.sm3(b"content")
    attributes = gm.signed_attributes(content_digest=digest)
    p7s = gm.detached_signed_data(
        attributes_der=attributes, signature=bidder.key.sign(attributes), signer_der=bidder.certificate, chain_der=[]
    )
    assert gm.verify_detached(p7s, digest) == bidder.certificate


def test_changed_content_is_refused_by_the_message_digest(bidder: fixtures.Party, ca: fixtures.Party) -> None:
    p7s, _ = _sign(b"the original bid", bidder, ca)
    with pytest.raises(gm.SignatureInvalid, match="message digest"):
        gm.verify_detached(p7s, sm2.sm3(b"the original bid, changed"))


def test_changed_signed_attributes_are_refused(bidder: fixtures.Party, ca: fixtures.Party) -> None:
    content = b"the original bid"
    p7s, _ = _sign(content, bidder, ca)
    # the signing time sits in the signed attributes, after the certificates: move it by one second
    at = p7s.rindex(b"\x17\x0d") + 2
    second = p7s[at + 11]
    changed = p7s[: at + 11] + bytes([second + 1 if second < ord("9") else second - 1]) + p7s[at + 12 :]
    assert changed != p7s and gm.signed_digest(changed) == sm2.sm3(content)

    with pytest.raises(gm.SignatureInvalid, match="does not verify"):
        gm.verify_detached(changed, sm2.sm3(content))


def test_attributes_reassembled_with_another_signing_time_are_refused(bidder: fixtures.Party) -> None:
    digest = sm2.sm3(b"bid")
    signed_attributes = gm.signed_attributes(content_digest=digest, signing_time=datetime(2026, 1, 1, tzinfo=UTC))
    other_attributes = gm.signed_attributes(content_digest=digest, signing_time=datetime(2026, 1, 2, tzinfo=UTC))
    signature = bidder.key.sign_digest(gm.attributes_hash(signed_attributes, bidder.certificate))
    p7s = gm.detached_signed_data(
        attributes_der=other_attributes, signature=signature, signer_der=bidder.certificate, chain_der=[]
    )
    with pytest.raises(gm.SignatureInvalid, match="does not verify"):
        gm.verify_detached(p7s, digest)


@pytest.mark.parametrize("signing_id", [b"", b"ALICE123@YAHOO.COM", b"1234567812345679"])
def test_a_signature_made_with_another_or_the_empty_id_is_refused(signing_id: bytes, bidder: fixtures.Party) -> None:
    digest = sm2.sm3(b"bid")
    attributes = gm.signed_attributes(content_digest=digest)
    if signing_id:
        signature = bidder.key.sign(attributes, signing_id)
    else:
        signature = bidder.key.sign_digest(sm2.sm3(_z_of_the_empty_id(bidder.key.public_key()) + attributes))
    p7s = gm.detached_signed_data(
        attributes_der=attributes,
        signature=signature,
        signer_der=bidder.certificate,
        chain_der=[],
    )
    with pytest.raises(gm.SignatureInvalid, match="does not verify"):
        gm.verify_detached(p7s, digest)
    if signing_id:  # the same signature verifies under the ID it was made with: the ID is what was refused
        assert gm.verify_detached(p7s, digest, id=signing_id) == bidder.certificate


def test_a_signer_certificate_swapped_for_another_key_is_refused(bidder: fixtures.Party, ca: fixtures.Party) -> None:
    """A certificate with the same issuer and serial but another key: the Z and the key no longer match."""
    impostor_key = sm2.generate()
    serial = x509.load_der_x509_certificate(bidder.certificate).serial_number
    impostor = fixtures.certificate(common_name="投标人签名", key=impostor_key, issuer=ca, serial=serial)
    digest = sm2.sm3(b"bid")
    attributes = gm.signed_attributes(content_digest=digest)
    signature = bidder.key.sign_digest(gm.attributes_hash(attributes, bidder.certificate))
    p7s = gm.detached_signed_data(attributes_der=attributes, signature=signature, signer_der=impostor, chain_der=[])
    with pytest.raises(gm.SignatureInvalid, match="does not verify"):
        gm.verify_detached(p7s, digest)


def _rewrite_signer(p7s: bytes, change: Any) -> bytes:
    content_type, signed, signer = _signer_info(p7s)
    change(signed, signer)
    signed["signer_infos"] = [signer]
    return gm._content_info(content_type, signed)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda signed, signer: signer.__setitem__(
                "signature_algorithm", algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
            ),
            "not SM2",
        ),
        (
            lambda signed, signer: signer.__setitem__(
                "digest_algorithm", algos.DigestAlgorithm({"algorithm": "sha256"})
            ),
            "not SM3",
        ),
        (
            lambda signed, signer: signed.__setitem__("encap_content_info", {"content_type": "signed_data"}),
            "content type",
        ),
        (lambda signed, signer: signer.__setitem__("signed_attrs", None), "no signed attributes"),
    ],
    ids=["ecdsa-algorithm", "sha256-digest", "not-data", "no-attributes"],
)
def test_a_signer_info_outside_the_sm2_profile_is_refused(
    change: Any, message: str, bidder: fixtures.Party, ca: fixtures.Party
) -> None:
    content = b"bid"
    p7s, _ = _sign(content, bidder, ca)
    with pytest.raises(gm.SignatureInvalid, match=message):
        gm.verify_detached(_rewrite_signer(p7s, change), sm2.sm3(content))


@pytest.mark.parametrize("garbage", [b"", b"\x30\x03\x02\x01\x01", b"not DER at all", os.urandom(300)])
def test_malformed_signatures_are_refused_as_such(garbage: bytes) -> None:
    with pytest.raises(gm.SignatureInvalid):
        gm.verify_detached(garbage, bytes(32))
    with pytest.raises(gm.SignatureInvalid):
        gm.signed_digest(garbage)


# --- envelopes -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["cbc", "gcm"])
@pytest.mark.parametrize("flavour", FLAVOURS, ids=lambda flavour: flavour.name)
@pytest.mark.parametrize("size", [0, 15, 16, 4 * MiB, 4 * MiB + 17])
def test_a_sealed_bid_opens_to_the_same_bytes_in_every_flavour_and_mode(
    size: int, flavour: gm.Flavour, mode: str, opener: fixtures.Party, tmp_path: Path
) -> None:
    content = os.urandom(size)
    sealed, ciphertext = _seal(content, opener, tmp_path, mode=mode, flavour=flavour)
    assert sealed.size == size and sealed.plaintext_sm3 == sm2.sm3(content)
    assert ciphertext.stat().st_size == ((size // 16 + 1) * 16 if mode == "cbc" else size)
    assert size < 16 or content[:64] not in ciphertext.read_bytes()

    size_opened, digest = _open(sealed.header, ciphertext, tmp_path / "bid.pdf", opener, expected_sm3=sm2.sm3(content))

    assert (tmp_path / "bid.pdf").read_bytes() == content
    assert (size_opened, digest) == (size, sm2.sm3(content))


@pytest.mark.parametrize("flavour", FLAVOURS, ids=lambda flavour: flavour.name)
def test_the_cbc_header_has_the_flavours_oids_versions_and_an_sm2cipher_key(
    flavour: gm.Flavour, opener: fixtures.Party, tmp_path: Path
) -> None:
    sealed, _ = _seal(b"bid", opener, tmp_path, mode="cbc", flavour=flavour)
    outer = gm._ContentInfo.load(sealed.header)
    enveloped = outer["content"].parse(cms.EnvelopedData)
    gm_types = flavour.gm_content_types
    assert outer["content_type"].dotted == ("1.2.156.10197.6.1.4.2.3" if gm_types else "1.2.840.113549.1.7.3")
    info = enveloped["encrypted_content_info"]
    assert info["content_type"].dotted == ("1.2.156.10197.6.1.4.2.1" if gm_types else "1.2.840.113549.1.7.1")
    assert info["content_encryption_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.104.2"
    assert len(core.OctetString.load(info["content_encryption_algorithm"]["parameters"].dump()).native) == 16
    assert info["encrypted_content"].native is None  # detached
    ktri = enveloped["recipient_infos"][0].chosen
    assert ktri["key_encryption_algorithm"]["algorithm"].dotted == (
        "1.2.156.10197.1.301.2" if flavour is gm.GMSSL else "1.2.156.10197.1.301.3"
    )
    version = 1 if gm_types and flavour is not gm.OFDRW else 0
    assert int(enveloped["version"]) == version and int(ktri["version"]) == version
    certificate = x509.load_der_x509_certificate(opener.certificate)
    assert ktri["rid"].chosen["serial_number"].native == certificate.serial_number
    encrypted_key = ktri["encrypted_key"].native
    assert encrypted_key[0] == 0x30 and len(opener.key.decrypt(encrypted_key)) == 16  # SM2Cipher DER of an SM4 key


def test_the_gcm_header_is_an_auth_enveloped_data_with_sm4_gcm(opener: fixtures.Party, tmp_path: Path) -> None:
    sealed, _ = _seal(b"bid", opener, tmp_path, mode="gcm")
    outer = gm._ContentInfo.load(sealed.header)
    assert outer["content_type"].dotted == "1.2.840.113549.1.9.16.1.23"
    enveloped = outer["content"].parse(cms.AuthEnvelopedData)
    algorithm = enveloped["auth_encrypted_content_info"]["content_encryption_algorithm"]
    assert algorithm["algorithm"].dotted == "1.2.156.10197.1.104.8"
    assert len(enveloped["mac"].native) == 16
    assert gm.parse_header(sealed.header).mode == "gcm"


@pytest.mark.parametrize("mode", ["cbc", "gcm"])
def test_the_push_sealer_for_uploads_writes_what_opens(mode: str, opener: fixtures.Party, tmp_path: Path) -> None:
    content = os.urandom(3 * MiB + 5)
    with (tmp_path / "bid.bin").open("wb") as sink:
        sealer = gm.Sealer(sink, opener.certificate, mode=mode)
        for start in range(0, len(content), 100_003):
            sealer.update(content[start : start + 100_003])
        sealed = sealer.finish()
    assert sealed.plaintext_sm3 == sm2.sm3(content)
    _open(sealed.header, tmp_path / "bid.bin", tmp_path / "out", opener, expected_sm3=sealed.plaintext_sm3)
    assert (tmp_path / "out").read_bytes() == content


def test_a_source_that_reads_in_odd_pieces_still_seals_and_opens(opener: fixtures.Party, tmp_path: Path) -> None:
    size = 9 * MiB + 7
    with (tmp_path / "bid.bin").open("wb") as sink:
        sealed = gm.seal(Pattern(size, step=65_537), sink, opener.certificate, mode="cbc")
    _open(sealed.header, tmp_path / "bid.bin", tmp_path / "out", opener, expected_sm3=sealed.plaintext_sm3)
    assert (tmp_path / "out").stat().st_size == size
    assert gm.sm3_of_file(tmp_path / "out") == sealed.plaintext_sm3 == gm.sm3_of(Pattern(size))


def test_the_content_key_goes_through_the_callable_only_for_the_addressed_certificate(
    opener: fixtures.Party, ca: fixtures.Party, tmp_path: Path
) -> None:
    sealed, _ = _seal(b"bid", opener, tmp_path, mode="cbc")
    seen: list[bytes] = []

    def unwrap(encrypted_key: bytes) -> bytes:
        seen.append(encrypted_key)
        return opener.key.decrypt(encrypted_key)

    key = gm.content_key(sealed.header, opener.certificate, unwrap)
    assert len(key) == 16 and seen == [gm.parse_header(sealed.header).recipients[0].encrypted_key]
    assert gm.addressed_to(sealed.header, opener.certificate)

    stranger = fixtures.encipherer(ca, "另一投标人")
    assert not gm.addressed_to(sealed.header, stranger.certificate)
    with pytest.raises(gm.EnvelopeError, match="not addressed"):
        gm.content_key(sealed.header, stranger.certificate, unwrap)
    assert len(seen) == 1  # nothing was handed to the key holder for a stranger


def _only(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


def test_an_envelope_opened_with_the_wrong_key_is_refused_and_nothing_is_written(
    opener: fixtures.Party, ca: fixtures.Party, tmp_path: Path
) -> None:
    sealed, ciphertext = _seal(b"secret bid", opener, tmp_path, mode="cbc")
    wrong = fixtures.encipherer(ca, "冒名者")
    with ciphertext.open("rb") as source, pytest.raises(gm.EnvelopeError, match="does not decrypt"):
        gm.open_to_file(
            sealed.header,
            source,
            tmp_path / "out",
            recipient=opener.certificate,  # the right name, the wrong key behind it
            unwrap=wrong.unwrap,
            expected_sm3=sm2.sm3(b"secret bid"),
        )
    assert _only(tmp_path) == {"bid.bin"}


def test_a_tampered_encrypted_key_is_refused_and_nothing_is_written(opener: fixtures.Party, tmp_path: Path) -> None:
    sealed, ciphertext = _seal(b"secret bid", opener, tmp_path, mode="gcm")
    encrypted_key = gm.parse_header(sealed.header).recipients[0].encrypted_key
    flipped = encrypted_key[:-20] + bytes([encrypted_key[-20] ^ 1]) + encrypted_key[-19:]
    header = sealed.header.replace(encrypted_key, flipped)
    assert header != sealed.header
    with pytest.raises(gm.EnvelopeError, match="does not decrypt"):
        _open(header, ciphertext, tmp_path / "out", opener)
    assert _only(tmp_path) == {"bid.bin"}


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", [0, 5 * MiB, -1])
def test_tampered_cbc_ciphertext_is_caught_by_the_signed_sm3_and_nothing_is_written(
    where: int, opener: fixtures.Party, tmp_path: Path
) -> None:
    content = os.urandom(6 * MiB)
    sealed, ciphertext = _seal(content, opener, tmp_path, mode="cbc")
    _flip(ciphertext, where if where >= 0 else ciphertext.stat().st_size - 20)  # -1: in the block before the last

    with pytest.raises(gm.Tampered, match="SM3"):
        _open(sealed.header, ciphertext, tmp_path / "bid.pdf", opener, expected_sm3=sealed.plaintext_sm3)
    assert _only(tmp_path) == {"bid.bin"}


def test_a_changed_last_cbc_block_is_refused_like_any_other_change(opener: fixtures.Party, tmp_path: Path) -> None:
    sealed, ciphertext = _seal(b"0123456789", opener, tmp_path, mode="cbc")
    _flip(ciphertext, ciphertext.stat().st_size - 1)
    with pytest.raises(gm.Tampered, match="SM3"):  # in the same words as a wrong SM3: no padding oracle
        _open(sealed.header, ciphertext, tmp_path / "bid.pdf", opener, expected_sm3=sealed.plaintext_sm3)
    assert _only(tmp_path) == {"bid.bin"}


@pytest.mark.parametrize("cut", [1, 16])
def test_a_truncated_cbc_file_is_refused(cut: int, opener: fixtures.Party, tmp_path: Path) -> None:
    sealed, ciphertext = _seal(os.urandom(100), opener, tmp_path, mode="cbc")
    ciphertext.write_bytes(ciphertext.read_bytes()[:-cut])
    with pytest.raises(gm.Tampered):
        _open(sealed.header, ciphertext, tmp_path / "bid.pdf", opener, expected_sm3=sealed.plaintext_sm3)
    assert _only(tmp_path) == {"bid.bin"}


def test_a_cbc_envelope_is_not_opened_without_the_sm3_to_check(opener: fixtures.Party, tmp_path: Path) -> None:
    sealed, ciphertext = _seal(b"bid", opener, tmp_path, mode="cbc")
    with pytest.raises(gm.EnvelopeError, match="no integrity"):
        _open(sealed.header, ciphertext, tmp_path / "bid.pdf", opener)
    assert _only(tmp_path) == {"bid.bin"}


@pytest.mark.parametrize("where", ["ciphertext", "tag"])
def test_tampered_gcm_ciphertext_or_tag_is_caught_by_the_tag_and_nothing_is_written(
    where: str, opener: fixtures.Party, tmp_path: Path
) -> None:
    content = os.urandom(5 * MiB)
    sealed, ciphertext = _seal(content, opener, tmp_path, mode="gcm")
    header = sealed.header
    if where == "ciphertext":
        _flip(ciphertext, 4 * MiB + 3)
    else:
        tag = gm.parse_header(header).tag
        header = header.replace(tag, bytes([tag[0] ^ 1]) + tag[1:])

    with pytest.raises(gm.Tampered, match="GCM tag"):
        _open(header, ciphertext, tmp_path / "bid.pdf", opener)
    assert _only(tmp_path) == {"bid.bin"}


def test_a_gcm_file_whose_sm3_differs_from_the_signed_one_is_refused(opener: fixtures.Party, tmp_path: Path) -> None:
    sealed, ciphertext = _seal(b"bid one", opener, tmp_path, mode="gcm")
    with pytest.raises(gm.Tampered, match="SM3"):
        _open(sealed.header, ciphertext, tmp_path / "bid.pdf", opener, expected_sm3=sm2.sm3(b"bid two"))
    assert _only(tmp_path) == {"bid.bin"}


def _p256_certificate() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ECDSA")])
    moment = datetime.now(UTC)
    from datetime import timedelta

    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(7).not_valid_before(moment).not_valid_after(moment + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return certificate.public_bytes(serialization.Encoding.DER)


def test_a_recipient_without_an_sm2_key_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    sink = io.BytesIO()
    with pytest.raises(gm.EnvelopeError, match="SM2 key"):
        gm.seal(io.BytesIO(b"bid"), sink, _p256_certificate())
    assert sink.getvalue() == b""


def _rewrite_envelope(header: bytes, change: Any) -> bytes:
    outer = gm._ContentInfo.load(header)
    enveloped = gm._parse(outer["content"], cms.EnvelopedData)
    change(enveloped)
    return gm._content_info(outer["content_type"].dotted, enveloped)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda enveloped: enveloped.__setitem__("version", 2), "version"),
        (
            lambda enveloped: enveloped["encrypted_content_info"].__setitem__(
                "content_encryption_algorithm", {"algorithm": "aes256_cbc", "parameters": core.OctetString(bytes(16))}
            ),
            "not SM4-CBC",
        ),
        (
            lambda enveloped: enveloped["encrypted_content_info"].__setitem__("encrypted_content", b"attached"),
            "attached",
        ),
        (
            lambda enveloped: enveloped["recipient_infos"][0].chosen.__setitem__(
                "key_encryption_algorithm", {"algorithm": "rsaes_pkcs1v15"}
            ),
            "no SM2 key transport",
        ),
    ],
    ids=["version-2", "aes", "attached", "rsa-transport"],
)
def test_a_header_outside_what_the_readers_accept_is_refused(
    change: Any, message: str, opener: fixtures.Party, tmp_path: Path
) -> None:
    sealed, ciphertext = _seal(b"bid", opener, tmp_path, mode="cbc")
    header = _rewrite_envelope(sealed.header, change)
    with pytest.raises(gm.EnvelopeError, match=message):
        _open(header, ciphertext, tmp_path / "bid.pdf", opener, expected_sm3=sealed.plaintext_sm3)
    assert _only(tmp_path) == {"bid.bin"}


@pytest.mark.parametrize("garbage", [b"", b"\x30\x00", os.urandom(200)])
def test_malformed_headers_are_refused_as_such(garbage: bytes) -> None:
    with pytest.raises(gm.EnvelopeError):
        gm.parse_header(garbage)


def test_writer_flavours_accept_only_sm2_algorithms() -> None:
    with pytest.raises(ValueError, match="signature"):
        gm.Flavour("peer", signature_algorithm="1.2.840.10045.4.3.2")
    with pytest.raises(ValueError, match="key transport"):
        gm.Flavour("peer", key_transport="1.2.840.113549.1.1.7")
    with pytest.raises(ValueError, match="versions"):
        gm.Flavour("peer", enveloped_data_version=2)
    assert gm.FLAVOURS["gmssl"] is gm.GMSSL and gm.FLAVOURS["rfc5652"] is gm.RFC5652


# --- constant memory -----------------------------------------------------------------------------------------------


def _peak_tracemalloc(work: Any) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("mode", ["cbc", "gcm"])
def test_sealing_and_opening_64_mib_uses_constant_memory(mode: str, opener: fixtures.Party, tmp_path: Path) -> None:
    """The peak Python allocation of sealing and opening is the same for 16 MiB as for 64 MiB (a few fixed
    buffers), and well under the file's size."""
    peaks = {}
    for size in (16 * MiB, 64 * MiB):
        ciphertext, target = tmp_path / f"{size}.bin", tmp_path / f"{size}.out"
        results: dict[str, Any] = {}

        def seal_it(size: int = size, ciphertext: Path = ciphertext, results: dict[str, Any] = results) -> None:
            with ciphertext.open("wb") as sink:
                results["sealed"] = gm.seal(Pattern(size), sink, opener.certificate, mode=mode)

        def open_it(ciphertext: Path = ciphertext, target: Path = target, results: dict[str, Any] = results) -> None:
            sealed = results["sealed"]
            results["opened"] = _open(sealed.header, ciphertext, target, opener, expected_sm3=sealed.plaintext_sm3)

        peaks[size] = (_peak_tracemalloc(seal_it), _peak_tracemalloc(open_it))
        assert results["opened"] == (size, gm.sm3_of(Pattern(size)))
        ciphertext.unlink()
        target.unlink()
    for seal_peak, open_peak in peaks.values():
        assert seal_peak < 24 * MiB and open_peak < 32 * MiB  # a handful of 4 MiB buffers
    assert peaks[64 * MiB][0] < peaks[16 * MiB][0] + MiB  # no growth with the size
    assert peaks[64 * MiB][1] < peaks[16 * MiB][1] + MiB


def test_the_module_loads_without_django_for_the_command_line_tool() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, mobileca.cmslib.gm; print('django' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
        env={key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"},
    )
    assert done.stdout.strip() == "False"


def test_a_recipient_certificate_parsed_by_cryptography_is_taken_as_well(
    opener: fixtures.Party, tmp_path: Path
) -> None:
    parsed = x509.load_der_x509_certificate(opener.certificate)  # cryptography reads SM2 certificates, not their keys
    with (tmp_path / "bid.bin").open("wb") as sink:
        sealed = gm.seal(io.BytesIO(b"bid"), sink, parsed, mode="gcm")
    assert gm.addressed_to(sealed.header, opener.certificate)
    _open(sealed.header, tmp_path / "bid.bin", tmp_path / "out", opener)
    assert (tmp_path / "out").read_bytes() == b"bid"


def test_a_tampered_gcm_file_is_refused_by_its_tag_whatever_openssls_error_queue_holds(
    opener: fixtures.Party, tmp_path: Path
) -> None:
    # a stale error of another caller in this thread must not turn a failed tag into another refusal (or a 500)
    from cryptography.hazmat.bindings.openssl.binding import Binding

    sealed, ciphertext = _seal(os.urandom(MiB), opener, tmp_path, mode="gcm")
    _flip(ciphertext, 1000)
    Binding.lib.ERR_put_error(6, 0, 138, b"elsewhere", 1)  # ERR_LIB_EVP, EVP_R_DATA_NOT_MULTIPLE_OF_BLOCK_LENGTH
    try:
        with pytest.raises(gm.Tampered, match="GCM tag"):
            _open(sealed.header, ciphertext, tmp_path / "bid.pdf", opener)
    finally:
        Binding.lib.ERR_clear_error()
    assert _only(tmp_path) == {"bid.bin"}
