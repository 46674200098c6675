"""The phone's half of two-party SM2 in JavaScript (issue 20), driven from Python through node.

The bundle served to the phone is rebuilt and compared byte for byte; the phone's messages come from the JavaScript
module (``frontend/cosign``) and the service's half here is a small independent rendering of the wire protocol in
pure Python integers, so the final signatures are checked by OpenSSL (``Sm2PublicKey.verify``/``verify_digest``)
and gmssl-pyx, and the decryption opens an OpenSSL SM2 ciphertext. Needs node and ``npm ci`` (node_modules).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import asn1crypto.core
import pytest

from mobileca.ca import sm2

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "mobileca" / "shield" / "static" / "shield" / "cosign.js"
DRIVER = ROOT / "frontend" / "cosign" / "test" / "driver.js"
ESBUILD = ROOT / "node_modules" / ".bin" / "esbuild"

Point = tuple[int, int] | None


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None or not ESBUILD.exists():
        if os.environ.get("MOBILECA_SKIP_JS") == "1":
            pytest.skip("node or node_modules missing and MOBILECA_SKIP_JS=1")
        pytest.fail("node and the npm packages are needed: run `npm ci` (or set MOBILECA_SKIP_JS=1)", pytrace=False)
    return found


def phone(node: str, op: str, **request: Any) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 (node and the test driver of this repository)
        [node, str(DRIVER)],
        input=json.dumps({"op": op, **request}).encode(),
        capture_output=True,
        check=True,
        timeout=60,
        cwd=ROOT,
    )
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


# --- the service's half, from the protocol text, in plain integers ------------------------------------------------


def _add(p: Point, q: Point) -> Point:
    if p is None:
        return q
    if q is None:
        return p
    if p[0] == q[0] and (p[1] + q[1]) % sm2.P == 0:
        return None
    if p == q:
        slope = (3 * p[0] * p[0] + sm2.A) * pow(2 * p[1], -1, sm2.P)
    else:
        slope = (q[1] - p[1]) * pow(q[0] - p[0], -1, sm2.P)
    x = (slope * slope - p[0] - q[0]) % sm2.P
    return x, (slope * (p[0] - x) - p[1]) % sm2.P


def _mul(k: int, p: Point) -> Point:
    result: Point = None
    for bit in bin(k % sm2.N)[2:]:
        result = _add(result, result)
        if bit == "1":
            result = _add(result, p)
    return result


def _neg(p: Point) -> Point:
    return None if p is None else (p[0], (-p[1]) % sm2.P)


G: Point = (sm2.GX, sm2.GY)


def _pt(hex_point: str) -> Point:
    assert re.fullmatch(r"04[0-9a-f]{128}", hex_point)
    x, y = int(hex_point[2:66], 16), int(hex_point[66:], 16)
    assert (y * y - x * x * x - sm2.A * x - sm2.B) % sm2.P == 0
    return x, y


def _raw(p: Point) -> bytes:
    assert p is not None
    return b"\x04" + p[0].to_bytes(32, "big") + p[1].to_bytes(32, "big")


def _hex(p: Point) -> str:
    return _raw(p).hex()


def _sc(k: int) -> str:
    return f"{k:064x}"


def _c(tag: str, session: str, *points: Point) -> int:
    data = tag.encode() + b"\x00" + session.encode() + b"\x00" + b"".join(_raw(p) for p in points)
    return int.from_bytes(hashlib.sha256(data).digest(), "big") % sm2.N


def _rnd() -> int:
    return secrets.randbelow(sm2.N - 1) + 1


class Service:
    def keygen(self, session: str, message: dict[str, Any]) -> dict[str, str]:
        p1, r_point, z = _pt(message["p1"]), _pt(message["proof"]["R"]), int(message["proof"]["z"], 16)
        assert _mul(z, G) == _add(r_point, _mul(_c("mobileca-cosign-keygen-v1", session, p1, r_point), p1))
        self.p1, self.d2 = p1, _rnd()
        self.public = _add(_mul(pow(self.d2, -1, sm2.N), p1), _neg(G))
        return {"public_key": _hex(self.public)}

    def sign(self, session: str, message: dict[str, Any]) -> dict[str, str]:
        q1, r_point, z = _pt(message["q1"]), _pt(message["proof"]["R"]), int(message["proof"]["z"], 16)
        c = _c("mobileca-cosign-sign-v1", f"{session}:{message['e']}", q1, r_point)
        if _mul(z, G) != _add(r_point, _mul(c, q1)):
            raise AssertionError("sign proof refused")
        k2, k3 = _rnd(), _rnd()
        point = _add(_mul(k3, q1), _mul(k2, G))
        assert point is not None
        r = (int(message["e"], 16) + point[0]) % sm2.N
        return {"r": _sc(r), "s2": _sc(self.d2 * k3 % sm2.N), "s3": _sc(self.d2 * (r + k2) % sm2.N)}

    def decrypt(self, session: str, c1: Point, message: dict[str, Any], c3: bytes, c2: bytes) -> bytes:
        t1 = _pt(message["t1"])
        a, b, z = _pt(message["proof"]["A"]), _pt(message["proof"]["B"]), int(message["proof"]["z"], 16)
        c = _c("mobileca-cosign-decrypt-v1", session, self.p1, c1, t1, a, b)
        if _mul(z, G) != _add(a, _mul(c, self.p1)) or _mul(z, c1) != _add(b, _mul(c, t1)):
            raise AssertionError("DLEQ refused")
        shared = _raw(_add(_mul(pow(self.d2, -1, sm2.N), t1), _neg(c1)))[1:]
        stream = b"".join(sm2.sm3(shared + i.to_bytes(4, "big")) for i in range(1, len(c2) // 32 + 2))
        plaintext = bytes(x ^ y for x, y in zip(c2, stream, strict=False))
        assert sm2.sm3(shared[:32] + plaintext + shared[32:]) == c3
        return plaintext


def _keyed(node: str) -> tuple[Service, dict[str, Any], sm2.Sm2PublicKey]:
    service = Service()
    first = phone(node, "keygen", session="kg-1")
    answer = service.keygen("kg-1", first["message"])
    share = phone(node, "accept", share=first["share"], response=answer)["share"]
    return service, share, sm2.Sm2PublicKey.from_point(bytes.fromhex(share["publicKey"]))


# --- the bundle -------------------------------------------------------------------------------------------------


def test_rebuilding_the_bundle_gives_the_committed_bytes(node: str, tmp_path: Path) -> None:
    script = json.loads((ROOT / "package.json").read_text())["scripts"]["build"]
    args = shlex.split(script)
    assert args[0] == "esbuild"
    out = tmp_path / "cosign.js"
    args = [str(ESBUILD)] + [f"--outfile={out}" if a.startswith("--outfile=") else a for a in args[1:]]
    subprocess.run(args, cwd=ROOT, check=True, capture_output=True, timeout=120)  # noqa: S603
    assert out.read_bytes() == BUNDLE.read_bytes(), "run `npm run build` and commit the bundle"


def test_the_bundle_loads_nothing_and_evaluates_nothing() -> None:
    code = BUNDLE.read_text(encoding="utf-8")
    for forbidden in ("fetch(", "XMLHttpRequest", "WebSocket", "eval(", "new Function", "import(", "importScripts"):
        assert forbidden not in code, forbidden
    assert not re.search(r"^\s*import\s", code, re.MULTILINE), "the bundle is one file: no imports left"
    assert "export {" in code


# --- the phone in JavaScript, the service here, OpenSSL and gmssl judging ----------------------------------------


def test_js_phone_signature_verifies_with_openssl_and_gmssl(node: str) -> None:
    gmssl: ModuleType = pytest.importorskip("gmssl_pyx", reason="gmssl-pyx (the second SM2 implementation)")
    service, share, public = _keyed(node)
    message = "招标文件 SM3 摘要 bid".encode() * 3
    e = phone(node, "digest", publicKey=share["publicKey"], message=message.hex())["e"]
    assert e == public.digest(message).hex()  # the phone's Z and SM3 agree with OpenSSL's

    round_ = phone(node, "sign", share=share, session="s-1", e=e)
    assert round_["message"]["e"] == e
    der = bytes.fromhex(
        phone(node, "finish", share=share, secret=round_["secret"], response=service.sign("s-1", round_["message"]))[
            "der"
        ]
    )

    assert public.verify_digest(der, bytes.fromhex(e))
    assert public.verify(der, message)
    assert gmssl.sm2_verify(public.point[1:], message, der, signer_id=sm2.DEFAULT_ID)
    assert not public.verify(der, message + b"!")
    assert not gmssl.sm2_verify(public.point[1:], message + b"!", der, signer_id=sm2.DEFAULT_ID)


def test_js_phone_refuses_tampered_service_values_and_gives_no_signature(node: str) -> None:
    service, share, _ = _keyed(node)
    e = phone(node, "digest", publicKey=share["publicKey"], message=b"bid".hex())["e"]
    round_ = phone(node, "sign", share=share, session="s-2", e=e)
    answer = service.sign("s-2", round_["message"])
    tampered = {**answer, "s3": _sc(int(answer["s3"], 16) ^ 1)}
    assert phone(node, "finish", share=share, secret=round_["secret"], response=tampered) == {"error": "signature"}
    out_of_range = {**answer, "r": _sc(0)}
    assert phone(node, "finish", share=share, secret=round_["secret"], response=out_of_range) == {"error": "range"}


def test_js_phone_signing_proof_is_bound_to_the_session_and_digest(node: str) -> None:
    service, share, public = _keyed(node)
    e = public.digest(b"bid").hex()
    round_ = phone(node, "sign", share=share, session="s-3", e=e)
    with pytest.raises(AssertionError, match="sign proof refused"):
        service.sign("s-4", round_["message"])
    with pytest.raises(AssertionError, match="sign proof refused"):
        service.sign("s-3", {**round_["message"], "e": public.digest(b"another bid").hex()})


def test_js_phone_and_service_decrypt_an_openssl_ciphertext(node: str) -> None:
    service, share, public = _keyed(node)
    content_key = secrets.token_bytes(16)
    cipher = asn1crypto.core.load(public.encrypt(content_key))
    c1 = (cipher[0].native % (1 << 256), cipher[1].native % (1 << 256))
    c3, c2 = cipher[2].native, cipher[3].native
    answer = phone(node, "decrypt", share=share, session="d-1", c1=_hex(c1))
    assert service.decrypt("d-1", c1, answer, c3, c2) == content_key
    with pytest.raises(AssertionError, match="DLEQ refused"):
        service.decrypt("d-2", c1, answer, c3, c2)
