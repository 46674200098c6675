"""The SM2 bid files against implementations nobody here wrote (issue 19): BouncyCastle from Debian verifies the
detached SignedData under both content-type OID families and opens the SM2 key transport with its raw SM2Engine
(its CMS layer cannot), decrypting the SM4 content itself; a BouncyCastle SignedData verifies here; gmssl-pyx (GmSSL)
unwraps our encryptedKey, and an envelope made of its SM2 and SM4 ciphertexts opens with our reader."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms, keys
from asn1crypto import x509 as asn1_x509

from mobileca.ca import sm2
from mobileca.cmslib import gm
from tests.support import gm as fixtures

JAVA_SOURCE = Path(__file__).resolve().parent / "java" / "GmCmsCheck.java"
BC_PACKAGES = ("libbcprov-java", "libbcpkix-java", "libbcutil-java")


def _bouncycastle_classpath() -> str | None:
    if not (shutil.which("java") and shutil.which("javac") and shutil.which("dpkg")):
        return None
    listed = subprocess.run(["dpkg", "-L", *BC_PACKAGES], capture_output=True, text=True, check=False)  # noqa: S603, S607
    jars = [
        line
        for line in listed.stdout.splitlines()
        if line.rsplit("/", 1)[-1] in ("bcprov.jar", "bcpkix.jar", "bcutil.jar")
    ]
    return ":".join(sorted(jars)) if len(jars) == 3 else None


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The Java checker compiled against Debian's BouncyCastle: the command line to run it."""
    classpath = _bouncycastle_classpath()
    if classpath is None:
        pytest.skip(f"needs java, javac and BouncyCastle ({' '.join(BC_PACKAGES)}); CI installs them")
    folder = tmp_path_factory.mktemp("gmcms-java")
    subprocess.run(  # noqa: S603
        ["javac", "-Xlint:-options", "-cp", classpath, "-d", str(folder), str(JAVA_SOURCE)],  # noqa: S607
        check=True,
        capture_output=True,
    )
    return ["java", "-cp", f"{classpath}:{folder}", "GmCmsCheck"]


def _run(checker: list[str], *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*checker, *map(str, args)], capture_output=True, text=True, check=False, timeout=120)  # noqa: S603


@pytest.fixture(scope="module")
def ca() -> fixtures.Party:
    return fixtures.root()


@pytest.fixture(scope="module")
def bidder(ca: fixtures.Party) -> fixtures.Party:
    return fixtures.signer(ca)


@pytest.fixture(scope="module")
def opener(ca: fixtures.Party) -> fixtures.Party:
    return fixtures.encipherer(ca)


def _signed(tmp_path: Path, bidder: fixtures.Party, ca: fixtures.Party, flavour: gm.Flavour) -> tuple[Path, Path]:
    content = tmp_path / "bid.pdf"
    content.write_bytes(os.urandom(3 * 1024 * 1024 + 11))
    attributes = gm.signed_attributes(content_digest=gm.sm3_of_file(content), flavour=flavour)
    signature = bidder.key.sign_digest(gm.attributes_hash(attributes, bidder.certificate))
    p7s = tmp_path / "bid.pdf.p7s"
    p7s.write_bytes(
        gm.detached_signed_data(
            attributes_der=attributes,
            signature=signature,
            signer_der=bidder.certificate,
            chain_der=[ca.certificate],
            flavour=flavour,
        )
    )
    return content, p7s


# --- BouncyCastle ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", [gm.RFC5652, gm.GBT35275, gm.GMSSL], ids=lambda flavour: flavour.name)
def test_bouncycastle_verifies_our_detached_signed_data_under_both_content_type_families(
    flavour: gm.Flavour, checker: list[str], bidder: fixtures.Party, ca: fixtures.Party, tmp_path: Path
) -> None:
    content, p7s = _signed(tmp_path, bidder, ca, flavour)

    done = _run(checker, "verify", p7s, content)

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["verified", flavour.data, "1.2.156.10197.1.501"]


def test_bouncycastle_refuses_our_signed_data_over_changed_content(
    checker: list[str], bidder: fixtures.Party, ca: fixtures.Party, tmp_path: Path
) -> None:
    content, p7s = _signed(tmp_path, bidder, ca, gm.RFC5652)
    data = bytearray(content.read_bytes())
    data[1000] ^= 1
    content.write_bytes(bytes(data))

    done = _run(checker, "verify", p7s, content)

    assert done.returncode != 0 and "verified" not in done.stdout


@pytest.mark.parametrize("flavour", [gm.RFC5652, gm.GBT35275, gm.OFDRW], ids=lambda flavour: flavour.name)
def test_bouncycastle_primitives_verify_the_sm2_signature_over_the_signed_attributes(
    flavour: gm.Flavour, checker: list[str], bidder: fixtures.Party, ca: fixtures.Party, tmp_path: Path
) -> None:
    """The ofdrw way (Signature SM3withSM2 over the DER attributes), which also covers SM2-1 (301.1) that BC's CMS
    layer does not know."""
    _, p7s = _signed(tmp_path, bidder, ca, flavour)
    done = _run(checker, "verify-attrs", p7s)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["verified"]


def test_bouncycastle_refuses_a_signature_made_with_another_id(
    checker: list[str], bidder: fixtures.Party, tmp_path: Path
) -> None:
    content = tmp_path / "bid.pdf"
    content.write_bytes(b"bid")
    attributes = gm.signed_attributes(content_digest=sm2.sm3(b"bid"))
    p7s = tmp_path / "bid.pdf.p7s"
    p7s.write_bytes(
        gm.detached_signed_data(
            attributes_der=attributes,
            signature=bidder.key.sign(attributes, b"ALICE123@YAHOO.COM"),
            signer_der=bidder.certificate,
            chain_der=[],
        )
    )
    assert _run(checker, "verify", p7s, content).returncode != 0
    assert _run(checker, "verify-attrs", p7s).returncode != 0


@pytest.mark.parametrize("mode", ["cbc", "gcm"])
@pytest.mark.parametrize("flavour", [gm.RFC5652, gm.GMSSL], ids=lambda flavour: flavour.name)
def test_bouncycastle_sm2engine_opens_our_envelope_and_decrypts_the_sm4_content(
    flavour: gm.Flavour, mode: str, checker: list[str], opener: fixtures.Party, tmp_path: Path
) -> None:
    content = os.urandom(2 * 1024 * 1024 + 5)
    with (tmp_path / "bid.bin").open("wb") as sink:
        sealed = gm.seal(io.BytesIO(content), sink, opener.certificate, mode=mode, flavour=flavour)
    (tmp_path / "bid.p7m").write_bytes(sealed.header)
    (tmp_path / "key.der").write_bytes(opener.key.der)

    done = _run(checker, "open", tmp_path / "bid.p7m", tmp_path / "bid.bin", tmp_path / "key.der", tmp_path / "out")

    assert done.returncode == 0, done.stderr
    content_oid = "1.2.156.10197.1.104.2" if mode == "cbc" else "1.2.156.10197.1.104.8"
    assert done.stdout.split() == ["opened", flavour.key_transport, content_oid]
    assert (tmp_path / "out").read_bytes() == content


def test_bouncycastle_cannot_open_our_envelope_with_another_key(
    checker: list[str], opener: fixtures.Party, ca: fixtures.Party, tmp_path: Path
) -> None:
    with (tmp_path / "bid.bin").open("wb") as sink:
        sealed = gm.seal(io.BytesIO(b"secret"), sink, opener.certificate, mode="cbc")
    (tmp_path / "bid.p7m").write_bytes(sealed.header)
    (tmp_path / "key.der").write_bytes(fixtures.encipherer(ca, "冒名者").key.der)

    done = _run(checker, "open", tmp_path / "bid.p7m", tmp_path / "bid.bin", tmp_path / "key.der", tmp_path / "out")

    assert done.returncode != 0 and not (tmp_path / "out").exists()


def test_a_bouncycastle_detached_signed_data_verifies_with_our_reader(checker: list[str], tmp_path: Path) -> None:
    content = tmp_path / "bid.pdf"
    content.write_bytes(os.urandom(100_000))

    done = _run(checker, "sign", content, tmp_path)

    assert done.returncode == 0, done.stderr
    p7s = (tmp_path / "content.p7s").read_bytes()
    assert gm.verify_detached(p7s, gm.sm3_of_file(content)) == (tmp_path / "signer.der").read_bytes()
    with pytest.raises(gm.SignatureInvalid, match="message digest"):
        gm.verify_detached(p7s, sm2.sm3(b"other content"))


# --- gmssl-pyx (GmSSL) -----------------------------------------------------------------------------------------------


gmssl_pyx = pytest.importorskip("gmssl_pyx", reason="needs gmssl-pyx==2.1.0 (a development dependency)")


def _scalar(party: fixtures.Party) -> bytes:
    """The 32-byte private scalar of a PKCS#8 SM2 key, as GmSSL takes it."""
    private = keys.PrivateKeyInfo.load(party.key.der)["private_key"].parsed["private_key"].native
    return int(private).to_bytes(32, "big")


@pytest.mark.parametrize("mode", ["cbc", "gcm"])
def test_gmssl_pyx_unwraps_our_encrypted_key_and_the_bid_opens(
    mode: str, opener: fixtures.Party, tmp_path: Path
) -> None:
    content = os.urandom(1024 * 1024 + 3)
    with (tmp_path / "bid.bin").open("wb") as sink:
        sealed = gm.seal(io.BytesIO(content), sink, opener.certificate, mode=mode, flavour=gm.GMSSL)
    scalar = _scalar(opener)
    unwrapped: list[bytes] = []

    def unwrap(encrypted_key: bytes) -> bytes:
        unwrapped.append(gmssl_pyx.sm2_decrypt(scalar, encrypted_key))
        return unwrapped[-1]

    with (tmp_path / "bid.bin").open("rb") as source:
        gm.open_to_file(
            sealed.header,
            source,
            tmp_path / "out",
            recipient=opener.certificate,
            unwrap=unwrap,
            expected_sm3=sealed.plaintext_sm3,
        )

    assert (tmp_path / "out").read_bytes() == content
    assert len(unwrapped) == 1 and unwrapped[0] == opener.key.decrypt(
        gm.parse_header(sealed.header).recipients[0].encrypted_key
    )


def _ktri(recipient_der: bytes, encrypted_key: bytes, algorithm: str) -> cms.RecipientInfo:
    certificate = asn1_x509.Certificate.load(recipient_der)
    return cms.RecipientInfo(
        name="ktri",
        value=cms.KeyTransRecipientInfo(
            {
                "version": 1,
                "rid": cms.RecipientIdentifier(
                    name="issuer_and_serial_number",
                    value=cms.IssuerAndSerialNumber(
                        {"issuer": certificate.issuer, "serial_number": certificate.serial_number}
                    ),
                ),
                "key_encryption_algorithm": cms.KeyEncryptionAlgorithm({"algorithm": algorithm}),
                "encrypted_key": encrypted_key,
            }
        ),
    )


@pytest.mark.parametrize("transport", [gm.SM2_2, gm.SM2_3])
def test_an_envelope_of_gmssl_pyx_ciphertexts_opens_with_our_reader(
    transport: str, opener: fixtures.Party, tmp_path: Path
) -> None:
    """GmSSL encrypts the SM4 key to the recipient (SM2Cipher DER) and the content (SM4-CBC, PKCS #7); our reader
    unwraps with the recipient's key and decrypts, under either key-transport OID."""
    content = os.urandom(200_000)
    key, iv = os.urandom(16), os.urandom(16)
    point = opener.key.public_key().point[1:]
    encrypted_key = gmssl_pyx.sm2_encrypt(point, key)
    (tmp_path / "bid.bin").write_bytes(gmssl_pyx.sm4_cbc_padding_encrypt(key, iv, content))
    header = gm._cbc_header(_ktri(opener.certificate, encrypted_key, transport), iv, gm.GMSSL)

    with (tmp_path / "bid.bin").open("rb") as source:
        size, digest = gm.open_to_file(
            header, source, tmp_path / "out", recipient=opener.certificate, unwrap=opener.unwrap,
            expected_sm3=sm2.sm3(content),
        )  # fmt: skip

    assert (tmp_path / "out").read_bytes() == content and (size, digest) == (len(content), sm2.sm3(content))


def test_a_gmssl_pyx_sm4_gcm_content_opens_with_our_reader(opener: fixtures.Party, tmp_path: Path) -> None:
    content = os.urandom(300_001)
    key, nonce = os.urandom(16), os.urandom(12)
    ciphertext, tag = gmssl_pyx.sm4_gcm_encrypt(key, nonce, b"", content)
    (tmp_path / "bid.bin").write_bytes(ciphertext)
    recipient = _ktri(opener.certificate, gmssl_pyx.sm2_encrypt(opener.key.public_key().point[1:], key), gm.SM2_3)
    header = gm._gcm_header(recipient, nonce, tag)

    with (tmp_path / "bid.bin").open("rb") as source:
        gm.open_to_file(header, source, tmp_path / "out", recipient=opener.certificate, unwrap=opener.unwrap)

    assert (tmp_path / "out").read_bytes() == content
