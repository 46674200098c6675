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


def test_node_unit_tests_pass(node: str) -> None:
    """The JavaScript unit tests (``npm test``: SM3 vectors, sm-crypto as the peer, sealing), so CI runs them too."""
    tests = sorted(str(path) for path in (ROOT / "frontend" / "cosign" / "test").glob("*.test.js"))
    assert len(tests) >= 3
    done = subprocess.run([node, "--test", *tests], cwd=ROOT, capture_output=True, text=True, timeout=300)  # noqa: S603
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.search(r"^# fail 0$", done.stdout, re.MULTILINE)
    assert int(re.search(r"^# pass (\d+)$", done.stdout, re.MULTILINE)[1]) >= 16  # type: ignore[index]


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


# --- the bundle in Chromium: the share in IndexedDB ---------------------------------------------------------------

PIN = "135790"

PAGE = """<!doctype html><meta charset="utf-8"><title>cosign</title>
<script type="module">import * as cosign from "./cosign.js"; window.cosign = cosign; window.cosignReady = true;</script>
"""

RAW_RECORD = """async (credentialId) => {
  const db = await new Promise((ok, ko) => {
    const req = indexedDB.open("mobileca-cosign");
    req.onsuccess = () => ok(req.result);
    req.onerror = () => ko(req.error);
  });
  const record = await new Promise((ok, ko) => {
    const req = db.transaction("shares").objectStore("shares").get(credentialId);
    req.onsuccess = () => ok(req.result);
    req.onerror = () => ko(req.error);
  });
  db.close();
  const hex = (b) => Array.from(
    new Uint8Array(b.buffer ?? b, b.byteOffset ?? 0, b.byteLength),
    (x) => x.toString(16).padStart(2, "0"),
  ).join("");
  const out = {};
  for (const [name, value] of Object.entries(record)) {
    if (value instanceof CryptoKey) {
      let exported = "refused";
      try { await crypto.subtle.exportKey("raw", value); exported = "exported"; } catch {}
      const { type, extractable } = value;
      out[name] = { kind: "CryptoKey", type, extractable, algorithm: value.algorithm.name, exported };
    } else if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
      out[name] = { kind: "bytes", hex: hex(value) };
    } else {
      out[name] = value;
    }
  }
  return out;
}"""

CALL = """async ([name, args]) => {
  try {
    return { value: await window.cosign[name](...args) };
  } catch (error) {
    if (error instanceof window.cosign.CosignError) return { error: error.code };
    throw error;
  }
}"""


@pytest.fixture
def cosign_page(tmp_path: Path) -> Any:
    import threading
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS

    if not CHROMIUM.exists():
        if os.environ.get("MOBILECA_SKIP_BROWSER") == "1":
            pytest.skip(f"{CHROMIUM} missing and MOBILECA_SKIP_BROWSER=1")
        pytest.fail(f"Chromium not found at {CHROMIUM}", pytrace=False)
    from playwright.sync_api import sync_playwright

    shutil.copy(BUNDLE, tmp_path / "cosign.js")
    (tmp_path / "index.html").write_text(PAGE, encoding="utf-8")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="zh-CN")
                context.set_default_timeout(TIMEOUT_MS)
                page = context.new_page()
                requests: list[str] = []
                page.on("request", lambda request: requests.append(request.url))
                page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html")
                page.wait_for_function("window.cosignReady === true")
                yield page
                assert {url.rsplit("/", 1)[1] for url in requests} <= {"index.html", "cosign.js", "favicon.ico"}
            finally:
                chromium.close()
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.browser
def test_browser_share_sealed_in_indexeddb_opens_only_with_pin_and_pepper(cosign_page: Any) -> None:
    page = cosign_page

    def call(name: str, *args: Any) -> dict[str, Any]:
        result: dict[str, Any] = page.evaluate(CALL, [name, list(args)])
        return result

    service = Service()
    first = call("generateShare", "kg-browser")["value"]
    share = call("acceptPublicKey", first["share"], service.keygen("kg-browser", first["message"]))["value"]
    public = sm2.Sm2PublicKey.from_point(bytes.fromhex(share["publicKey"]))
    pepper = secrets.token_hex(32)

    assert call("hasShare", "cred-1") == {"value": False}
    assert call("storeShare", "cred-1", share, PIN, pepper) == {"value": None}
    assert call("hasShare", "cred-1") == {"value": True}
    assert call("loadShare", "cred-1", PIN, pepper) == {"value": share}

    raw = page.evaluate(RAW_RECORD, "cred-1")
    assert raw["deviceKey"] == {
        "kind": "CryptoKey",
        "type": "secret",
        "extractable": False,
        "algorithm": "AES-GCM",
        "exported": "refused",
    }
    dump = json.dumps(raw)
    sealed = bytes.fromhex(raw["sealed"]["hex"])
    d1 = share["d1"]
    assert d1 not in dump and d1.upper() not in dump
    assert bytes.fromhex(d1) not in sealed and d1.encode() not in sealed
    assert b'"d1"' not in sealed and b"version" not in sealed
    assert len(sealed) == len(json.dumps(share, separators=(",", ":"))) + 32  # two GCM tags, nothing in clear

    assert call("loadShare", "cred-1", "135791", pepper) == {"error": "wrong-pin"}
    assert call("loadShare", "cred-1", PIN, secrets.token_hex(32)) == {"error": "wrong-pin"}
    assert call("loadShare", "cred-2", PIN, pepper) == {"error": "missing"}
    assert call("storeShare", "cred-1", share, "000000", pepper) == {"error": "exists"}
    assert page.evaluate(RAW_RECORD, "cred-1") == raw  # refusals changed nothing

    # the loaded share signs in the page; OpenSSL verifies the result
    loaded = call("loadShare", "cred-1", PIN, pepper)["value"]
    e = public.digest(b"bid in the browser").hex()
    page.evaluate(
        "([share, e]) => { window.round = cosign.signMessage(share, 's-browser', cosign.hexToBytes(e)); }",
        [loaded, e],
    )
    message = page.evaluate("() => window.round.message")
    answer = service.sign("s-browser", message)
    der = page.evaluate(
        "([share, answer]) => cosign.bytesToHex(cosign.finishSignature(share, window.round.secret, answer))",
        [loaded, answer],
    )
    assert public.verify(bytes.fromhex(der), b"bid in the browser")

    assert call("forgetShare", "cred-1") == {"value": None}
    assert call("hasShare", "cred-1") == {"value": False}
    assert call("loadShare", "cred-1", PIN, pepper) == {"error": "missing"}


# --- the JavaScript phone against the service's own half (mobileca.ca.sm2_cosign) --------------------------------


def test_full_round_js_phone_with_the_python_service(node: str) -> None:
    gmssl: ModuleType = pytest.importorskip("gmssl_pyx", reason="gmssl-pyx (the second SM2 implementation)")
    cosign = pytest.importorskip("mobileca.ca.sm2_cosign")
    first = phone(node, "keygen", session="kg-full")
    server, answer = cosign.ServerShare.keygen(first["message"], "kg-full")
    share = phone(node, "accept", share=first["share"], response=answer)["share"]
    public = server.public_key
    assert share["publicKey"] == public.point.hex()

    message = "开标: 投标文件 bid file".encode()
    e = phone(node, "digest", publicKey=share["publicKey"], message=message.hex())["e"]
    round_ = phone(node, "sign", share=share, session="s-full", e=e)
    response = server.sign_round(e, round_["message"], "s-full")
    der = bytes.fromhex(phone(node, "finish", share=share, secret=round_["secret"], response=response)["der"])
    assert public.verify(der, message)
    assert gmssl.sm2_verify(public.point[1:], message, der, signer_id=sm2.DEFAULT_ID)

    # the service refuses the phone's message replayed into another round or for another digest
    with pytest.raises(cosign.CosignRefused):
        server.sign_round(e, round_["message"], "s-other")
    with pytest.raises(cosign.CosignRefused):
        server.sign_round(public.digest(b"another").hex(), round_["message"], "s-full")

    content_key = secrets.token_bytes(16)
    ciphertext = public.encrypt(content_key)
    cipher = asn1crypto.core.load(ciphertext)
    c1 = (cipher[0].native % (1 << 256), cipher[1].native % (1 << 256))
    answer = phone(node, "decrypt", share=share, session="d-full", c1=_hex(c1))
    assert server.decrypt_round(ciphertext, answer, "d-full") == content_key
    with pytest.raises(cosign.CosignRefused):
        server.decrypt_round(ciphertext, answer, "d-other")
