"""``mobileca login | credentials | sign FILE | records``: the remote-signing API from a terminal.

* ``login`` — device login (RFC 8628): a QR code in the terminal; scan it with the phone, sign in with the Alipay
  account, allow; the token is kept in ``~/.config/mobileca/token.json`` (mode 0600) for a working day.
* ``credentials`` — the claimant's credentials (服务编号), their state and expiry.
* ``sign FILE`` — a detached CMS signature ``FILE.p7s`` (DER): the file is hashed here, the claimant authorises on
  the phone (QR code, PIN), the service signs the hash. ``openssl cms -verify -binary -inform DER -in FILE.p7s
  -content FILE -CAfile chain.pem`` checks it. ``--pin-stdin`` reads the PIN from standard input instead, except
  for a two-party SM2 credential (issue 20: half of its key is on the phone), which only the phone approves: the
  tool then sends no PIN, shows the QR code and link, and waits for the phone.
* Under an SM2 credential (issue 19) both write GB/T 35275 files (``cmslib.gm``): SM3 of the file, the SM2 signature
  of e = SM3(Z ‖ signed attributes) through the service (signAlgo 1.2.156.10197.1.501, hash SM3), and for ``bid
  seal`` an SM4 envelope with SM2 key transport; ``--flavour`` (rfc5652 | gbt35275 | gmssl | ofdrw) and ``--cipher``
  (sm4-gcm for the platform, the default | sm4-cbc for GB/T 35275 peers) choose what is written.
* ``records [--verify]`` — every operation on the claimant's credentials and its place in the platform's
  transparency log; ``--verify`` checks each against the log and the log against what it showed last time
  (``records.py``), with the trusted state in ``~/.config/mobileca/transparency.json`` (or ``--state FILE``).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import segno

from mobileca.ca import keys
from mobileca.cli import records as transparency
from mobileca.cmslib import gm, shown
from mobileca.cmslib import signed as cms
from mobileca.core.clock import now

DEFAULT_SERVER = "http://127.0.0.1:8000"


class ToolError(Exception):
    pass


class Refused(ToolError):
    """The API refused a call; ``code`` is its ``error`` (or ``code``) field, "" when it had none."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


PHONE_ONLY = "该证书的密钥由手机与服务共同持有，PIN 码只能在手机上输入：本工具不发送 PIN 码，请用手机确认"


def _config_dir() -> Path:
    return Path(os.environ.get("MOBILECA_CONFIG_DIR") or Path.home() / ".config" / "mobileca")


def _save_token(server: str, data: dict[str, Any]) -> None:
    folder = _config_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / "token.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"server": server, **data}, out)


def _load_token() -> dict[str, Any]:
    path = _config_dir() / "token.json"
    if not path.exists():
        raise ToolError("not logged in: run `mobileca login` first")
    data: dict[str, Any] = json.loads(path.read_text())
    if now().timestamp() >= float(data.get("expires_at", 0)):
        raise ToolError("the login has expired: run `mobileca login` again")
    return data


def refusal(response: httpx.Response) -> str:
    """What a refusal says, whatever shape it came in: the API's ``error``/``error_description``, the platform's
    ``code``/``message`` (a refusal at its boundary: too large, too deep, NUL), or a body that is not JSON at all
    (a proxy's page, a server error): then the status and its reason, never a traceback."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        message = data.get("error_description") or data.get("message")
        code = data.get("error") or data.get("code")
        if isinstance(message, str) and message:
            return f"{message} ({code or response.status_code})"
    return f"HTTP {response.status_code} {response.reason_phrase}".rstrip()


def refusal_code(response: httpx.Response) -> str:
    """The refusal's code (``error`` or ``code``), or ""."""
    try:
        data = response.json()
    except ValueError:
        return ""
    code = (data.get("error") or data.get("code")) if isinstance(data, dict) else None
    return code if isinstance(code, str) else ""


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of an accepted answer; a ``ToolError`` if it is not one."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ToolError(f"unexpected answer from the platform: HTTP {response.status_code}")
    return data


class Api:
    def __init__(self, server: str, token: str = "") -> None:
        self.server = server.rstrip("/")
        self.base = self.server + "/csc/v2"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0), headers=headers)

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET ``path`` (from the server's root: ``/transparency/v1/sth``) and its JSON object; a refusal is a
        ``ToolError``."""
        url = self.server + path
        try:
            response = self.http.get(url, params=params)
        except httpx.TransportError as exc:
            raise ToolError(f"cannot reach {url}: {exc}") from exc
        if response.status_code != 200:
            raise ToolError(f"{path}: {refusal(response)}")
        return _answer(response)

    def post(
        self, method: str, body: dict[str, Any], *, accept: tuple[int, ...] = (200,)
    ) -> tuple[int, dict[str, Any]]:
        try:
            response = self.http.post(f"{self.base}/{method}", json=body)
        except httpx.TransportError as exc:
            raise ToolError(f"cannot reach {self.base}: {exc}") from exc
        if response.status_code not in accept:
            raise Refused(f"{method}: {refusal(response)}", refusal_code(response))
        return response.status_code, _answer(response)


def _show_qr(url: str, out: Any) -> None:
    segno.make(url, error="m").terminal(out=out, compact=True)
    print(url, file=out, flush=True)


def _wait(label: str, seconds: int, poll: Any, out: Any, interval: Any = lambda: 1) -> dict[str, Any]:
    """Poll until ``poll()`` returns a result, every ``interval()`` seconds, showing the time left on one line."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = poll()
        if result is not None:
            print(f"\r{label}: 完成{' ' * 20}", file=out, flush=True)
            return dict(result)
        left = int(deadline - time.monotonic())
        print(f"\r{label}… 剩余 {left // 60}:{left % 60:02d}", end="", file=out, flush=True)
        time.sleep(interval())
    print(file=out)
    raise ToolError(f"{label}: timed out")


def login(server: str, out: Any) -> None:
    api = Api(server)
    _, start = api.post("oauth2/device", {"client_name": "mobileca 命令行工具"})
    print("请用手机扫码，使用申领人本人的支付宝账户登录并允许：", file=out)
    _show_qr(start["verification_uri_complete"], out)
    print(f"登录码 {start['user_code']}", file=out, flush=True)

    # RFC 8628 §3.5: poll no faster than the server's interval, 5 seconds slower after each slow_down (or 429)
    pace = {"interval": max(1, int(start.get("interval", 5)))}

    def poll() -> dict[str, Any] | None:
        status, data = api.post(
            "oauth2/token",
            {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": start["device_code"]},
            accept=(200, 400, 429),
        )
        if status == 200:
            return data
        if status == 429 or data.get("error") == "slow_down":
            pace["interval"] += 5
            return None
        if data.get("error") == "authorization_pending":
            return None
        raise ToolError(f"login refused: {data.get('error_description')} ({data.get('error')})")

    token = _wait("等待手机确认登录", int(start["expires_in"]), poll, out, lambda: pace["interval"])
    _save_token(server, {"access_token": token["access_token"], "expires_at": now().timestamp() + token["expires_in"]})
    print("已登录。", file=out)


def credentials(out: Any) -> None:
    saved = _load_token()
    api = Api(saved["server"], saved["access_token"])
    _, data = api.post("credentials/list", {"credentialInfo": True, "certInfo": True, "certificates": "none"})
    for info in data.get("credentialInfos", []):
        print(
            f"{info['credentialID']}  {info['cert']['status']:8}  {info['validTo'][:10]}  {info['description']}",
            file=out,
        )
    if not data.get("credentialIDs"):
        print("（没有证书）", file=out)


class Alarm(ToolError):
    """A verification found the platform misbehaving: said plainly, with its own exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def records(*, verify: bool, state_path: Path | None, accept_new_log_key: bool, out: Any) -> None:
    """List the operations on my credentials; with ``verify``, check them and the log (``records.py``)."""
    saved = _load_token()
    api = Api(saved["server"], saved["access_token"])
    try:
        fetched = transparency.fetch(api)
    except transparency.RecordsError as exc:
        raise ToolError(str(exc)) from exc
    for operation in fetched.operations:
        print(transparency.describe(operation), file=out)
    if not fetched.operations:
        print("(no operations)", file=out)
    if not verify:
        return
    path = state_path or _config_dir() / "transparency.json"
    try:
        state = transparency.load_state(path)
        findings = transparency.verify(
            api,
            fetched,
            state,
            server=api.server,
            accept_new_key=accept_new_log_key,
            say=lambda line: print(line, file=out),
        )
    except transparency.RecordsError as exc:
        raise ToolError(str(exc)) from exc
    if not findings.ok:
        raise Alarm("\n".join(findings.lines()), findings.exit_code)
    transparency.save_state(path, state)
    sth = fetched.sth
    assert sth is not None  # verify() refuses a missing head
    included = sum(1 for operation in fetched.operations if (operation.get("event") or {}).get("included"))
    waiting = len(fetched.operations) - included
    print(
        f"Verified: {included} operation(s) in the transparency log (tree of {sth.tree_size} entries signed at "
        f"{transparency.when(sth.timestamp_ms)}), "
        + (
            f"consistent with the tree of {findings.previous_size} verified last time"
            if findings.previous_size is not None
            else "now trusted as the first tree head verified here"
        )
        + (f"; {waiting} waiting for the log (lag up to {fetched.max_lag_ms} ms)" if waiting else "")
        + ".",
        file=out,
    )


def _pem_to_der(body: str) -> bytes:
    return base64.b64decode(body)


GM_CIPHERS = {"sm4-gcm": "gcm", "sm4-cbc": "cbc"}


def _is_sm2(signer_der: bytes) -> bool:
    """Whether a signing certificate (DER) is of the SM2 key profile: its files are GB/T 35275."""
    try:
        return keys.profile_of_public_key(keys.public_key_of_certificate(signer_der)).name == keys.SM2_SM3.name
    except (keys.UnknownKeyProfile, ValueError) as exc:
        raise ToolError(f"the credential's certificate is of no supported key profile: {exc}") from exc


def _flavour(name: str) -> gm.Flavour:
    if name not in gm.FLAVOURS:
        raise ToolError(f"unknown flavour {name!r}: one of {', '.join(gm.FLAVOURS)}")
    return gm.FLAVOURS[name]


def sign(
    path: Path,
    *,
    credential: str | None,
    purpose: str,
    pin_stdin: bool,
    output: Path | None,
    out: Any,
    flavour: str = gm.RFC5652.name,
) -> Path:
    saved = _load_token()
    api = Api(saved["server"], saved["access_token"])
    if not path.is_file():
        raise ToolError(f"{path}: no such file")
    infos = _credential_infos(api)
    chosen = _choose(infos, credential)
    certificates = [_pem_to_der(body) for body in infos[chosen]["cert"]["certificates"]]
    signer, chain = certificates[0], certificates[1:]
    sm2 = _is_sm2(signer)
    writer = _flavour(flavour) if sm2 else gm.RFC5652

    size = path.stat().st_size
    progress = lambda done: print(f"\r计算摘要 {done * 100 // max(size, 1)}%", end="", file=out, flush=True)  # noqa: E731
    content_digest = gm.sm3_of_file(path, progress) if sm2 else cms.sha256_of_file(path, progress)
    print(file=out)
    if sm2:
        print(f"文件摘要（SM3）：{shown.digest_groups(content_digest)}", file=out)
        attributes = gm.signed_attributes(content_digest=content_digest, flavour=writer)
    else:
        attributes = cms.signed_attributes(content_digest=content_digest, signer_der=signer)
    signature = _authorized_signature(
        api,
        credential=chosen,
        signer=signer,
        attributes=attributes,
        file_name=path.name,
        purpose=purpose,
        pin_stdin=pin_stdin,
        out=out,
        phone_only=_phone_only(infos[chosen]),
    )
    if sm2:
        der = gm.detached_signed_data(
            attributes_der=attributes, signature=signature, signer_der=signer, chain_der=chain, flavour=writer
        )
    else:
        der = cms.detached_signed_data(
            attributes_der=attributes, signature=signature, signer_der=signer, chain_der=chain
        )
    target = output or path.with_name(path.name + ".p7s")
    target.write_bytes(der)
    print(f"已签名：{target}", file=out, flush=True)
    return target


def _credential_infos(api: Api) -> dict[str, dict[str, Any]]:
    _, listed = api.post("credentials/list", {"credentialInfo": True, "certificates": "chain", "authInfo": True})
    return {info["credentialID"]: info for info in listed.get("credentialInfos", [])}


def _choose(infos: dict[str, dict[str, Any]], credential: str | None) -> str:
    """The named credential, or the first valid one."""
    chosen = credential or next((cid for cid, info in infos.items() if info["cert"]["status"] == "valid"), None)
    if chosen is None or chosen not in infos:
        raise ToolError("no usable credential (see `mobileca credentials`)")
    return chosen


def _phone_only(info: dict[str, Any]) -> bool:
    """Whether the credential is authorised on the phone only (CSC authInfo without a PIN object: a two-party
    key, issue 20)."""
    auth = info.get("auth")
    return isinstance(auth, dict) and "PIN" not in str(auth.get("expression", "PIN"))


def _authorized_signature(
    api: Api,
    *,
    credential: str,
    signer: bytes,
    attributes: bytes,
    file_name: str,
    purpose: str,
    pin_stdin: bool,
    out: Any,
    phone_only: bool = False,
) -> bytes:
    """Ask for the signature of the signed attributes: QR code and the PIN on the phone, or the PIN from stdin. The
    algorithm asked for is the signing certificate's (``signer``, DER) key profile's: for SM2 the hash to sign is
    e = SM3(Z ‖ attributes) (GM/T 0009), signed with SM3withSM2. A two-party key (issue 20: ``phone_only``, or the
    service answering ``phone_required``) is approved on the phone only: no PIN is sent, the QR code is shown and
    the tool polls as without ``--pin-stdin``."""
    if _is_sm2(signer):
        digest, label = gm.attributes_hash(attributes, signer), "SM3"
        sign_algorithm, hash_algorithm = keys.SM2_SM3.signature_oid, keys.SM2_SM3.hash_oid
    else:
        digest, label = cms.attributes_hash(attributes), "SHA-256"
        sign_algorithm, hash_algorithm = cms.signer_profile(signer).signature_oid, ""
    to_sign = base64.b64encode(digest).decode()
    # what the phone will show for this request, to compare group by group before entering the PIN (issue 18)
    print(f"待签名摘要（{label}，手机上显示的应与此一致）：{shown.digest_groups(digest)}", file=out)
    request: dict[str, Any] = {
        "credentialID": credential,
        "numSignatures": 1,
        "hashes": [to_sign],
        "description": purpose,
        "fileName": file_name,
    }
    hash_parameter = {"hashAlgorithmOID": hash_algorithm} if hash_algorithm else {}
    request.update(hash_parameter)
    if pin_stdin and phone_only:
        print(PHONE_ONLY, file=out)
    elif pin_stdin:
        request["authData"] = [{"id": "PIN", "value": sys.stdin.readline().strip()}]
    try:
        status, authorized = api.post("credentials/authorize", request, accept=(200, 202))
    except Refused as exc:
        if exc.code != "phone_required" or "authData" not in request:
            raise
        print(PHONE_ONLY, file=out)  # refused before anything was stored; the PIN is not counted
        del request["authData"]
        status, authorized = api.post("credentials/authorize", request, accept=(200, 202))
    if status == 202:
        print(f"请用手机扫码，核对文件 {file_name} 后输入 PIN 码授权：", file=out)
        _show_qr(authorized["authorizationURL"], out)

        def poll() -> dict[str, Any] | None:
            code, data = api.post("credentials/authorizeCheck", {"handle": authorized["handle"]}, accept=(200, 202))
            return data if code == 200 else None

        authorized = _wait("等待手机授权", int(authorized["expiresIn"]), poll, out)
    _, signed = api.post(
        "signatures/signHash",
        {
            "credentialID": credential,
            "SAD": authorized["SAD"],
            "hashes": [to_sign],
            "signAlgo": sign_algorithm,
            **hash_parameter,
        },
    )
    return base64.b64decode(signed["signatures"][0])


def _progress(label: str, total: int, out: Any) -> Any:
    started = time.monotonic()

    def show(done: int) -> None:
        elapsed = max(time.monotonic() - started, 1e-6)
        print(
            f"\r{label} {done * 100 // max(total, 1):3d}%  {done / elapsed / 1e6:7.1f} MB/s",
            end="",
            file=out,
            flush=True,
        )

    return show


def _request(send: Any, url: str, **kwargs: Any) -> httpx.Response:
    try:
        response: httpx.Response = send(url, **kwargs)
    except httpx.TransportError as exc:
        raise ToolError(f"cannot reach {url}: {exc}") from exc
    return response


def bid_seal(
    path: Path,
    *,
    tender: str,
    credential: str | None,
    pin_stdin: bool,
    keep: bool,
    out: Any,
    flavour: str = gm.RFC5652.name,
    cipher: str = "sm4-gcm",
) -> dict[str, Any]:
    """Seal a bid file on this machine (AES-256-GCM for the credential's own encryption certificate, signed
    through the service with the PIN), then upload the header, the signature and the ciphertext: the platform only
    ever receives ciphertext. An SM2 credential's file is sealed and signed as GB/T 35275 (``cmslib.gm``: SM4 in
    ``cipher``'s mode, the CMS ``flavour``, SM3 + SM2)."""
    if cipher not in GM_CIPHERS:
        raise ToolError(f"unknown cipher {cipher!r}: one of {', '.join(GM_CIPHERS)}")
    writer = _flavour(flavour)
    from cryptography import x509

    from mobileca.cmslib import enveloped

    saved = _load_token()
    api = Api(saved["server"], saved["access_token"])
    if not path.is_file():
        raise ToolError(f"{path}: no such file")
    platform = httpx.Client(
        timeout=httpx.Timeout(60.0, connect=10.0), headers={"Authorization": f"Bearer {saved['access_token']}"}
    )
    base = saved["server"].rstrip("/") + "/bidding/api"
    tender_url = f"{base}/tenders/{quote(tender, safe='')}"
    try:
        response = platform.get(tender_url)
    except httpx.TransportError as exc:
        raise ToolError(f"cannot reach {base}: {exc}") from exc
    if response.status_code != 200:
        raise ToolError(f"tender {tender}: {refusal(response)}")
    project = _answer(response)
    if not project["open"]:
        raise ToolError(f"tender {tender}: the bid deadline has passed ({project['bidDeadline']})")
    infos = _credential_infos(api)
    chosen = _choose(infos, credential)
    cert = infos[chosen]["cert"]
    signer_der = _pem_to_der(cert["certificates"][0])
    recipient_der = _pem_to_der(cert["encryptionCertificate"])
    sm2 = _is_sm2(signer_der)

    size = path.stat().st_size
    ciphertext_path = path.with_name(path.name + ".bin")
    with path.open("rb") as source, ciphertext_path.open("wb") as sink:
        progress = _progress("加密", size, out)
        if sm2:
            sealed_gm = gm.seal(source, sink, recipient_der, mode=GM_CIPHERS[cipher], flavour=writer, progress=progress)
            header, plaintext_size = sealed_gm.header, sealed_gm.size
        else:
            recipient = x509.load_der_x509_certificate(recipient_der)
            sealed = enveloped.seal(source, sink, recipient, progress=progress)
            header, plaintext_size = sealed.header, sealed.size
    print(file=out)
    path.with_name(path.name + ".p7m").write_bytes(header)
    if sm2:
        print(f"文件摘要（SM3）：{shown.digest_groups(sealed_gm.plaintext_sm3)}", file=out)
        attributes = gm.signed_attributes(content_digest=sealed_gm.plaintext_sm3, flavour=writer)
    else:
        attributes = cms.signed_attributes(content_digest=sealed.plaintext_sha256, signer_der=signer_der)
    signature = _authorized_signature(
        api,
        credential=chosen,
        signer=signer_der,
        attributes=attributes,
        file_name=path.name,
        purpose=f"投标文件签名：{tender}",
        pin_stdin=pin_stdin,
        out=out,
        phone_only=_phone_only(infos[chosen]),
    )
    chain = [_pem_to_der(body) for body in cert["certificates"][1:]]
    if sm2:
        p7s = gm.detached_signed_data(
            attributes_der=attributes, signature=signature, signer_der=signer_der, chain_der=chain, flavour=writer
        )
    else:
        p7s = cms.detached_signed_data(
            attributes_der=attributes, signature=signature, signer_der=signer_der, chain_der=chain
        )
    path.with_name(path.name + ".p7s").write_bytes(p7s)

    announced = _request(
        platform.post,
        f"{tender_url}/bids",
        json={
            "credentialID": chosen,
            "fileName": path.name,
            "size": plaintext_size,
            "header": base64.b64encode(header).decode(),
            "signature": base64.b64encode(p7s).decode(),
        },
    )
    if announced.status_code != 201:
        raise ToolError(f"upload refused: {refusal(announced)}")
    ciphertext_size = ciphertext_path.stat().st_size  # SM4-CBC: the plaintext padded to whole blocks
    show = _progress("上传", ciphertext_size, out)

    def chunks() -> Any:
        sent = 0
        with ciphertext_path.open("rb") as stream:
            while chunk := stream.read(4 * 1024 * 1024):
                sent += len(chunk)
                show(sent)
                yield chunk

    upload_url = _answer(announced).get("uploadURL")
    if not isinstance(upload_url, str):
        raise ToolError("unexpected answer from the platform: no upload address")
    uploaded = _request(
        platform.put,
        upload_url,
        content=chunks(),
        headers={"Content-Type": "application/octet-stream", "Content-Length": str(ciphertext_size)},
    )
    print(file=out)
    if uploaded.status_code != 200:
        raise ToolError(f"upload failed: {refusal(uploaded)}")
    if not keep:
        ciphertext_path.unlink(missing_ok=True)
    result: dict[str, Any] = _answer(uploaded)
    print(f"已递交：项目 {tender}，投标文件 {path.name}（{plaintext_size} 字节）", file=out, flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mobileca", description="e签盾 remote signing from the command line")
    sub = parser.add_subparsers(dest="command", required=True)
    login_cmd = sub.add_parser("login", help="log in with the phone (QR code)")
    login_cmd.add_argument("--server", default=os.environ.get("MOBILECA_SERVER", DEFAULT_SERVER))
    sub.add_parser("credentials", help="list your credentials")
    sign_cmd = sub.add_parser("sign", help="sign a file: FILE.p7s, a detached CMS signature")
    sign_cmd.add_argument("file", type=Path)
    sign_cmd.add_argument("--credential", help="服务编号 (default: the first valid one)")
    sign_cmd.add_argument("--purpose", default="文件签名", help="shown on the phone")
    sign_cmd.add_argument("--out", type=Path)
    sign_cmd.add_argument("--pin-stdin", action="store_true", help="read the PIN from standard input")
    sign_cmd.add_argument(
        "--flavour",
        choices=sorted(gm.FLAVOURS),
        default=gm.RFC5652.name,
        help="SM2 credentials: the GB/T 35275 variant",
    )
    records_cmd = sub.add_parser("records", help="the operations on your credentials, and their transparency log")
    records_cmd.add_argument(
        "--verify", action="store_true", help="check every operation and the log against what it showed before"
    )
    records_cmd.add_argument("--state", type=Path, help="the trusted state (default: the config folder's)")
    records_cmd.add_argument(
        "--accept-new-log-key", action="store_true", help="trust a log key other than the one trusted before"
    )
    bid_cmd = sub.add_parser("bid", help="bid files")
    bid_sub = bid_cmd.add_subparsers(dest="bid_command", required=True)
    seal_cmd = bid_sub.add_parser("seal", help="seal a bid file here (sign + encrypt) and upload it")
    seal_cmd.add_argument("file", type=Path)
    seal_cmd.add_argument("--tender", required=True, help="项目编号")
    seal_cmd.add_argument("--credential", help="服务编号 (default: the first valid one)")
    seal_cmd.add_argument("--pin-stdin", action="store_true", help="read the PIN from standard input")
    seal_cmd.add_argument("--keep", action="store_true", help="keep FILE.bin (the ciphertext) after the upload")
    seal_cmd.add_argument(
        "--flavour",
        choices=sorted(gm.FLAVOURS),
        default=gm.RFC5652.name,
        help="SM2 credentials: the GB/T 35275 variant",
    )
    seal_cmd.add_argument(
        "--cipher",
        choices=sorted(GM_CIPHERS),
        default="sm4-gcm",
        help="SM2 credentials: sm4-gcm (the platform keeps the envelope) or sm4-cbc (GB/T 35275 peers)",
    )
    args = parser.parse_args(argv)
    out = sys.stderr if getattr(args, "pin_stdin", False) else sys.stdout
    try:
        if args.command == "login":
            login(args.server, out)
        elif args.command == "credentials":
            credentials(out)
        elif args.command == "records":
            records(verify=args.verify, state_path=args.state, accept_new_log_key=args.accept_new_log_key, out=out)
        elif args.command == "bid":
            bid_seal(
                args.file,
                tender=args.tender,
                credential=args.credential,
                pin_stdin=args.pin_stdin,
                keep=args.keep,
                out=out,
                flavour=args.flavour,
                cipher=args.cipher,
            )
        else:
            sign(
                args.file,
                credential=args.credential,
                purpose=args.purpose,
                pin_stdin=args.pin_stdin,
                output=args.out,
                out=out,
                flavour=args.flavour,
            )
    except Alarm as exc:
        print(f"\n{exc}", file=sys.stderr)
        return exc.exit_code
    except ToolError as exc:
        print(f"\nmobileca: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
