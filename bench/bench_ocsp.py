"""OCSP over HTTP at 16 concurrent connections (issue 16), measured by one load generator for both responders (two
asyncio client processes, a request per connection: gunicorn's sync workers and openssl's responder close after each
response; Debian's ``wrk`` hangs openssl 3.0's responder, which spins on the first connection wrk opens):

* the project's responder (``config.wsgi``: the bare WSGI responder in front of Django) under gunicorn with four
  workers, answering GET requests (RFC 5019 §5) for the certificates of a few hundred credentials, in random order;
* in the same run and with the same load generator, the peer: ``openssl ocsp -index … -port … -multi 4`` (four
  responder processes) answering for the same certificates with the same CA key, signing every response;
* the CA key operations per 1,000 status requests during our run (responses produced, counted in the table:
  the steady state should need none), against openssl's one signature per response.

Runs on PostgreSQL when ``BENCH_DATABASE_URL`` names a server database it may drop and create, else on SQLite.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

from _harness import children, django_setup, http_load, keyfile_ca, report, serve, stop

CREDENTIALS = 100  # two certificates each
CONNECTIONS = 16
CLIENT_PROCESSES = 2
WORKERS = 4  # gunicorn workers, and openssl -multi processes
SECONDS = 8


def _ocsp_ok(data: bytes) -> bool:
    return data.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")) and b"application/ocsp-response" in data


def _load(base: str, paths: list[str], seconds: float = SECONDS) -> tuple[float, int]:
    """Responses per second at CONNECTIONS concurrent connections, from CLIENT_PROCESSES asyncio processes (the same
    load generator for both responders); fails on any answer that is not an OCSP response with status 200."""
    host = base.removeprefix("http://")
    requests = [f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode() for path in paths]
    good = http_load(base, requests, _ocsp_ok, connections=CONNECTIONS, processes=CLIENT_PROCESSES, seconds=seconds)
    return good / seconds, good


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _openssl_responder(work_dir: Path, records: list[object], issuer_pem: bytes, key_pem: bytes) -> tuple:
    """``openssl ocsp`` answering for the same certificates (an index of them, all valid) with the same CA key."""
    lines = []
    for record in records:
        expiry = record.not_after.strftime("%y%m%d%H%M%SZ")  # type: ignore[attr-defined]
        lines.append(f"V\t{expiry}\t\t{record.serial_hex.upper()}\tunknown\t/CN=bench\n")  # type: ignore[attr-defined]
    (work_dir / "index.txt").write_text("".join(lines))
    (work_dir / "index.txt.attr").write_text("unique_subject = no\n")
    (work_dir / "issuing.pem").write_bytes(issuer_pem)
    (work_dir / "issuing.key").write_bytes(key_pem)
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603
        [  # noqa: S607
            "openssl",
            "ocsp",
            "-index",
            "index.txt",
            "-port",
            str(port),
            "-rsigner",
            "issuing.pem",
            "-rkey",
            "issuing.key",
            "-CA",
            "issuing.pem",
            "-nmin",
            "60",
            "-multi",
            str(WORKERS),
            "-ignore_err",
        ],
        cwd=work_dir,
        stdout=subprocess.DEVNULL,
        stderr=(work_dir / "openssl-ocsp.log").open("wb"),
    )
    log = work_dir / "openssl-ocsp.log"
    for _ in range(100):  # no probe connection: openssl 3.0's responder spins on a connection closed unanswered
        if server.poll() is not None:
            raise RuntimeError(f"openssl ocsp exited ({server.returncode}): {log.read_text()}")
        if "waiting for OCSP client connections" in log.read_text():
            break
        time.sleep(0.1)
    return server, f"http://127.0.0.1:{port}"


def main() -> None:
    var_dir = django_setup(database_env="BENCH_DATABASE_URL")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp

    from mobileca.ca.backends.factory import backend
    from mobileca.ca.keys import generate_user_key
    from mobileca.ca.models import IssuedCertificate, OcspResponse
    from mobileca.ca.profiles import Subject
    from mobileca.ca.services import ca_init, certificate_of, credential_issue
    from mobileca.core.clock import now

    env = keyfile_ca(var_dir)
    _root, issuing = ca_init(key_backend=backend())
    subject = Subject(enterprise_name="基准测试企业", uscc="91360200MA35A1B20J", claimant_name="张三")
    for index in range(CREDENTIALS):  # each issuance produces its responses once it commits
        credential_issue(
            owner_id=f"bench-{index}",
            subject=subject,
            sign_public_key=generate_user_key().public_key(),  # type: ignore[arg-type]
            encrypt_public_key=generate_user_key().public_key(),  # type: ignore[arg-type]
            valid_days=365,
        )
    issuer = certificate_of(issuing)
    records = list(IssuedCertificate.objects.filter(authority=issuing).order_by("?"))
    paths = []  # ours: /pki/ocsp/<request>; openssl's responder takes the request right after the first slash
    for record in records:  # SHA-1 CertIDs, as openssl and most clients send by default
        der = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(certificate_of(record), issuer, hashes.SHA1())  # noqa: S303
            .build()
            .public_bytes(serialization.Encoding.DER)
        )
        paths.append("/" + quote(base64.b64encode(der).decode(), safe=""))

    server, base = serve(env, workers=WORKERS)
    try:
        ours_paths = ["/pki/ocsp" + path for path in paths]
        _load(base, ours_paths, 2)  # warm the workers, and the cache (a response enters it on its first request)
        started = now()
        ours, requests = _load(base, ours_paths)
        produced = OcspResponse.objects.filter(produced_at__gte=started).count()
    finally:
        stop(server)

    key_pem = (
        backend()
        .signing_key(issuing.key_label)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    peer, peer_base = _openssl_responder(var_dir, records, issuer.public_bytes(serialization.Encoding.PEM), key_pem)
    try:
        _load(peer_base, paths, 2)
        theirs, _ = _load(peer_base, paths)
    finally:
        for pid in [*children(peer.pid), peer.pid]:  # the responder started above and its -multi children
            os.kill(pid, signal.SIGKILL)
        peer.wait(timeout=30)
        (var_dir / "issuing.key").unlink()

    report(f"ocsp_responses_http_{CONNECTIONS}c", ours, "responses/s", theirs)
    # openssl signs each response: 1,000 key operations per 1,000 requests
    report("ocsp_ca_key_operations_per_1000", produced * 1000 / requests, "ops", 1000.0)


if __name__ == "__main__":
    main()
