"""BouncyCastle (Debian's libbcprov/libbcpkix/libbcutil-java), a peer nobody here wrote, checks the SM2 PKI of
issue 19: the certificates, the PKIX path root → issuing CA → leaf with both CRLs (good leaf valid, revoked leaf
refused), the CRL and the OCSP responses (good, revoked; SHA-1 and SHA-256 CertIDs; by the CA and by a delegated
responder); and refuses a certificate signed with another ID, a tampered one, one checked against another issuer.
``tests/java/GmCheck.java`` is compiled into a temporary directory and run once per test. Skipped, with the reason,
where java, javac or the jars are absent (CI installs them)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from mobileca.ca import gm, sm2
from tests.support.gm_hierarchy import Hierarchy, build, serial_of, write

CHECKER = Path(__file__).parent / "java" / "GmCheck.java"
JARS = [Path("/usr/share/java") / name for name in ("bcprov.jar", "bcpkix.jar", "bcutil.jar")]
PACKAGES = "openjdk-17-jdk-headless libbcprov-java libbcpkix-java libbcutil-java"


def _missing() -> str:
    absent = [tool for tool in ("java", "javac") if shutil.which(tool) is None]
    absent += [str(jar) for jar in JARS if not jar.exists()]
    return ", ".join(absent)


pytestmark = pytest.mark.skipif(
    bool(_missing()), reason=f"BouncyCastle peer unavailable (missing: {_missing()}); apt-get install {PACKAGES}"
)


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    classes = tmp_path_factory.mktemp("gmcheck")
    classpath = ":".join(str(jar) for jar in JARS)
    result = subprocess.run(  # noqa: S603
        ["javac", "-d", str(classes), "-cp", classpath, str(CHECKER)],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return classes


@pytest.fixture(scope="module")
def pki() -> Hierarchy:
    return build()


def _run(checker: Path, checks: dict[str, str]) -> dict[str, str]:
    """Run the checks (label → "kind:file,file,..."); returns label → "OK …" or "FAIL …"."""
    classpath = ":".join([*(str(jar) for jar in JARS), str(checker)])
    arguments = [f"{label}={check}" for label, check in checks.items()]
    result = subprocess.run(  # noqa: S603
        ["java", "-cp", classpath, "GmCheck", *arguments],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert set(lines) == set(checks), result.stdout
    return lines


def test_bouncycastle_verifies_the_certificates_and_crls(checker: Path, pki: Hierarchy, tmp_path: Path) -> None:
    f = {name: write(tmp_path, f"{name}.der", getattr(pki, name)) for name in
         ("root", "issuing", "sign", "encrypt", "revoked", "root_crl", "issuing_crl")}  # fmt: skip
    said = _run(
        checker,
        {
            "root": f"cert:{f['root']},{f['root']}",
            "issuing": f"cert:{f['issuing']},{f['root']}",
            "sign": f"cert:{f['sign']},{f['issuing']}",
            "encrypt": f"cert:{f['encrypt']},{f['issuing']}",
            "root_crl": f"crl:{f['root_crl']},{f['root']}",
            "issuing_crl": f"crl:{f['issuing_crl']},{f['issuing']}",
        },
    )
    for label in ("root", "issuing", "sign", "encrypt"):
        assert said[label] == "OK SM3WITHSM2 1.2.156.10197.1.501", label
    assert said["root_crl"] == "OK SM3WITHSM2 entries=0"
    assert said["issuing_crl"] == "OK SM3WITHSM2 entries=1"


def test_bouncycastle_pkix_validates_the_path_with_crls_and_refuses_the_revoked_leaf(
    checker: Path, pki: Hierarchy, tmp_path: Path
) -> None:
    f = {name: write(tmp_path, f"{name}.der", getattr(pki, name)) for name in
         ("root", "issuing", "sign", "encrypt", "revoked", "root_crl", "issuing_crl")}  # fmt: skip
    crls = f"{f['root_crl']},{f['issuing_crl']}"
    said = _run(
        checker,
        {
            "sign": f"path:{f['root']},{crls},--,{f['sign']},{f['issuing']}",
            "encrypt": f"path:{f['root']},{crls},--,{f['encrypt']},{f['issuing']}",
            "revoked": f"path:{f['root']},{crls},--,{f['revoked']},{f['issuing']}",
            "no_crl": f"path:{f['root']},{f['root_crl']},--,{f['sign']},{f['issuing']}",
        },
    )
    assert said["sign"] == "OK length=2"
    assert said["encrypt"] == "OK length=2"
    assert said["revoked"].startswith("FAIL CertPathValidatorException")
    assert "revocation" in said["revoked"] and "keyCompromise" in said["revoked"]
    assert said["no_crl"].startswith("FAIL")  # revocation on and no CRL of the issuing CA: not valid


def test_bouncycastle_verifies_ocsp_responses_good_and_revoked_by_the_ca_and_a_delegated_responder(
    checker: Path, pki: Hierarchy, tmp_path: Path
) -> None:
    good, revoked = serial_of(pki.sign), serial_of(pki.revoked)
    responder_key = sm2.generate()
    responder = gm.ocsp_responder_certificate(
        issuer_signer=pki.issuing_key.sign,
        issuer_der=pki.issuing,
        public_key_der=responder_key.public_key().der,
        name=gm.ca_name("景德镇移动CA测试", "Mobile CA SM2 OCSP"),
        now=pki.now,
    )
    statuses = (gm.Status(good), gm.Status(revoked, pki.now, "key_compromise"))
    issuing = write(tmp_path, "issuing.der", pki.issuing)
    responses = {
        "sha1": pki.ocsp(*statuses),
        "sha256": pki.ocsp(*statuses, hash_algorithm="sha256"),
        "delegated": pki.ocsp(*statuses, signer=responder_key.sign, responder_der=responder),
        "wrong_id": pki.ocsp(*statuses, signer=lambda tbs: pki.issuing_key.sign(tbs, id=b"ABC")),
    }
    said = _run(checker, {label: f"ocsp:{write(tmp_path, label, der)},{issuing}" for label, der in responses.items()})
    expected = f"{good:x}=good/{{oid}} {revoked:x}=revoked:1/{{oid}}"  # 1: keyCompromise
    sha1, sha256 = "1.3.14.3.2.26", "2.16.840.1.101.3.4.2.1"
    assert said["sha1"] == "OK 1.2.156.10197.1.501 by-ca " + expected.format(oid=sha1)
    assert said["sha256"] == "OK 1.2.156.10197.1.501 by-ca " + expected.format(oid=sha256)
    assert said["delegated"] == "OK 1.2.156.10197.1.501 delegated " + expected.format(oid=sha1)
    assert said["wrong_id"] == "FAIL Exception: signature invalid"


def test_bouncycastle_refuses_another_id_a_tampered_certificate_and_another_issuer(
    checker: Path, pki: Hierarchy, tmp_path: Path
) -> None:
    other_id = pki.entity("sign", issuer_signer=lambda tbs: pki.issuing_key.sign(tbs, id=b"ABC"))
    tampered = pki.sign.replace("王建国".encode(), "王建图".encode(), 1)
    assert tampered != pki.sign
    wrong_crl = gm.crl(
        signer=lambda tbs: pki.issuing_key.sign(tbs, id=b"ABC"),
        issuer_der=pki.issuing,
        number=8,
        this_update=pki.now,
        next_update=pki.now + timedelta(days=1),
    )
    f = {
        "issuing": write(tmp_path, "issuing.der", pki.issuing),
        "root": write(tmp_path, "root.der", pki.root),
        "root_crl": write(tmp_path, "root_crl.der", pki.root_crl),
        "other_id": write(tmp_path, "other_id.der", other_id),
        "tampered": write(tmp_path, "tampered.der", tampered),
        "sign": write(tmp_path, "sign.der", pki.sign),
        "wrong_crl": write(tmp_path, "wrong_crl.der", wrong_crl),
    }
    said = _run(
        checker,
        {
            "other_id": f"cert:{f['other_id']},{f['issuing']}",
            "tampered": f"cert:{f['tampered']},{f['issuing']}",
            "wrong_issuer": f"cert:{f['sign']},{f['root']}",
            "wrong_crl": f"crl:{f['wrong_crl']},{f['issuing']}",
            "path_wrong_crl": f"path:{f['root']},{f['root_crl']},{f['wrong_crl']},--,{f['sign']},{f['issuing']}",
            "control": f"cert:{f['sign']},{f['issuing']}",
        },
    )
    assert said["control"].startswith("OK")  # the same run accepts the genuine certificate
    for label in ("other_id", "tampered", "wrong_issuer", "wrong_crl", "path_wrong_crl"):
        assert said[label].startswith("FAIL"), (label, said[label])
