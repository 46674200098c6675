"""The time-stamping authority over HTTP (issue 17): RFC 3161 requests (``application/timestamp-query``, SHA-256
imprint, nonce, certReq) posted by 16 concurrent connections from two asyncio client processes to ``/tsa`` under
gunicorn (four workers), every answer checked to be a granted ``application/timestamp-reply``.

Baseline, in the same run: raw ECDSA P-256 signatures per second by one thread of this process with
``cryptography`` (what a token's one signature costs at the least; the server has four workers on the machine's
cores, so the ratio can exceed 1 only with more cores than one).

Runs on PostgreSQL when ``BENCH_DATABASE_URL`` names a server database it may drop and create, else on SQLite.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from _harness import django_setup, http_load, keyfile_ca, rate, report, serve, stop

CONNECTIONS = 16
CLIENT_PROCESSES = 2
WORKERS = 4
SECONDS = 8
GRANTED = b"\x30\x03\x02\x01\x00"  # PKIStatusInfo { status granted(0) }, first in a granted TimeStampResp


def _granted(data: bytes) -> bool:
    head, _, reply = data.partition(b"\r\n\r\n")
    ok = head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")) and b"application/timestamp-reply" in head
    return ok and GRANTED in reply[:12]


def _load(base: str, bodies: list[bytes], seconds: float = SECONDS) -> float:
    """Granted tokens per second at CONNECTIONS concurrent connections; fails on any answer that is not one."""
    host = base.removeprefix("http://")
    requests = [
        f"POST /tsa HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/timestamp-query\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
        for body in bodies
    ]
    granted = http_load(base, requests, _granted, connections=CONNECTIONS, processes=CLIENT_PROCESSES, seconds=seconds)
    return granted / seconds


def _raw_p256_signatures_per_second(seconds: float = 3.0) -> float:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    data = secrets.token_bytes(200)  # about a token's signed attributes
    batch = 200
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        rate(batch, lambda: [key.sign(data, ec.ECDSA(hashes.SHA256())) for _ in range(batch)])
        done += batch
    return done / (time.perf_counter() - started)


def main() -> None:
    var_dir = django_setup(database_env="BENCH_DATABASE_URL")
    from asn1crypto import tsp

    from mobileca.ca.backends.factory import backend
    from mobileca.ca.services import ca_init
    from mobileca.ca.tsa import tsa_ensure

    env = keyfile_ca(var_dir)
    ca_init(key_backend=backend())
    tsa_ensure(key_backend=backend())
    bodies = [
        tsp.TimeStampReq(
            {
                "version": "v1",
                "message_imprint": {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": hashlib.sha256(str(n).encode()).digest(),
                },
                "nonce": secrets.randbits(64),
                "cert_req": True,
            }
        ).dump()
        for n in range(500)
    ]
    server, base = serve(env, workers=WORKERS)
    try:
        _load(base, bodies, 2)  # warm the workers (each loads the unit and its key once)
        tokens = _load(base, bodies)
    finally:
        stop(server)
    raw = _raw_p256_signatures_per_second()
    report("tsa_tokens", tokens, "tokens/s", raw)


if __name__ == "__main__":
    main()
