"""Shared set-up for the benchmarks: a throw-away SQLite installation (or a PostgreSQL database), gunicorn serving
it on loopback, and the one output format.

Each figure is printed as ``BENCH <name> <value> <unit> baseline=<raw value> ratio=<value/baseline>``, the baseline
being the same work done the rawest way on this machine, measured in the same run.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def django_setup(database_env: str | None = None) -> Path:
    """A fresh installation: SQLite in a temporary folder, or the PostgreSQL database named by ``database_env``
    (dropped and created anew, so point it at a database that holds nothing else)."""
    sys.path.insert(0, str(ROOT))
    var_dir = Path(tempfile.mkdtemp(prefix="mobileca-bench-"))
    os.environ["MOBILECA_VAR_DIR"] = str(var_dir)
    os.environ.pop("DATABASE_URL", None)
    server_url = os.environ.get(database_env or "", "")
    if server_url:
        _recreate_postgres_database(server_url)
        os.environ["DATABASE_URL"] = server_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["HUEY_IMMEDIATE"] = "1"
    os.environ["MOBILECA_DEMO"] = "1"
    os.environ["LOG_LEVEL"] = "WARNING"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # as a deployment does: pages name hashed files
    return var_dir


def keyfile_ca(var_dir: Path) -> dict[str, str]:
    """The CA on the key-file back-end in ``var_dir/ca``, for this process (settings) and for servers started with the
    returned environment; the caller then runs ``ca_init``."""
    from django.conf import settings

    env = {
        "MOBILECA_CA_BACKEND": "keyfile",
        "MOBILECA_CA_KEY_DIR": str(var_dir / "ca"),
        "MOBILECA_CA_PASSPHRASE": "bench passphrase 123",
    }
    os.environ.update(env)
    settings.MOBILECA_CA = {
        **settings.MOBILECA_CA,
        "backend": "keyfile",
        "key_dir": var_dir / "ca",
        "passphrase": env["MOBILECA_CA_PASSPHRASE"],
    }
    return env


async def _connection(
    host: str, port: int, requests: list[bytes], accept: Callable[[bytes], bool], offset: int, until: float
) -> tuple[int, int]:
    """One connection at a time, a request per connection (HTTP/1.0): (accepted answers, others)."""
    import asyncio

    good = bad = 0
    index = offset
    while time.monotonic() < until:
        request = requests[index % len(requests)]
        index += 1
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request)
        data = await reader.read()
        writer.close()
        if accept(data):
            good += 1
        else:
            bad += 1
    return good, bad


def _load_process(
    host: str,
    port: int,
    requests: list[bytes],
    accept: Callable[[bytes], bool],
    connections: int,
    start: float,
    seconds: float,
    results: object,
) -> None:
    import asyncio

    async def run() -> list[tuple[int, int]]:
        await asyncio.sleep(max(0.0, start - time.time()))
        until = time.monotonic() + seconds
        return await asyncio.gather(
            *(_connection(host, port, requests, accept, index * 997, until) for index in range(connections))
        )

    counts = asyncio.run(run())
    results.put((sum(good for good, _ in counts), sum(bad for _, bad in counts)))  # type: ignore[attr-defined]


def http_load(
    base: str,
    requests: list[bytes],
    accept: Callable[[bytes], bool],
    *,
    connections: int = 16,
    processes: int = 2,
    seconds: float = 8.0,
) -> int:
    """The answers ``accept`` takes in ``seconds``, with ``connections`` concurrent connections from ``processes``
    asyncio processes, each sending the raw HTTP/1.0 ``requests`` in turn; fails on any answer it does not take.
    The same load generator for every server measured, ours and the peers'."""
    import multiprocessing

    host, port = base.removeprefix("http://").split(":")
    results: multiprocessing.Queue = multiprocessing.Queue()
    start = time.time() + 0.5
    share = connections // processes
    clients = [
        multiprocessing.Process(
            target=_load_process, args=(host, int(port), requests, accept, share, start, seconds, results)
        )
        for _ in range(processes)
    ]
    for client in clients:
        client.start()
    counts = [results.get(timeout=seconds + 60) for _ in clients]
    for client in clients:
        client.join()
    good, bad = sum(count[0] for count in counts), sum(count[1] for count in counts)
    if bad or not good:
        raise RuntimeError(f"{bad} refused and {good} accepted answers from {base}")
    return good


def _recreate_postgres_database(url: str) -> None:
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(
        (
            parts.scheme.replace("postgres", "postgresql", 1) if parts.scheme == "postgres" else parts.scheme,
            parts.netloc,
            "/postgres",
            "",
            "",
        )
    )
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def rate(count: int, work: Callable[[], None]) -> float:
    """Operations per second for ``work``, which performs ``count`` operations."""
    started = time.perf_counter()
    work()
    return count / (time.perf_counter() - started)


def report(name: str, value: float, unit: str, baseline: float) -> None:
    print(f"BENCH {name} {value:.1f} {unit} baseline={baseline:.1f} ratio={value / baseline:.3g}", flush=True)


def serve(env: dict[str, str] | None = None, *, workers: int = 2) -> tuple[subprocess.Popen[bytes], str]:
    """gunicorn (the production server) on a free loopback port with ``workers`` sync workers, the same database and
    settings as this process plus ``env``; returns the server and its base URL once it answers. Stop it with
    ``stop(server)``."""
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(  # noqa: S603
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "config.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "--backlog",
            "256",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{base}/pki/chain.pem", timeout=1)
            break
        except httpx.TransportError:
            if server.poll() is not None:
                raise RuntimeError("gunicorn exited before answering") from None
            time.sleep(0.1)
    return server, base


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds each process has used so far (Linux ``/proc``); processes gone are left out."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return used


def children(pid: int) -> list[int]:
    """The direct children of a process (gunicorn's workers)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


class Pattern(io.RawIOBase):
    """``size`` bytes of a fixed pseudo-random pattern, read in place (a 2 GiB plaintext without 2 GiB on disk)."""

    CHUNK = 4 * 1024 * 1024

    def __init__(self, size: int) -> None:
        self.left, self.block = size, hashlib.sha256(b"bench").digest() * (self.CHUNK // 32)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        count = min(len(buffer), self.left, len(self.block))
        buffer[:count] = self.block[:count]
        self.left -= count
        return count


BENCH_ACCOUNT = "2088000000009999"  # the claimant of bench_credential's credential


def bench_credential(profile_name: str, pin: str) -> tuple[str, str, Any]:
    """An active credential of ``profile_name`` with its certificates (``ca_init`` first), PIN ``pin``, and a
    bearer token of its claimant: returns (service number, token, the signing key, for checking signatures)."""
    import hashlib
    import secrets
    from datetime import timedelta

    from argon2 import PasswordHasher

    from mobileca.ca import facade
    from mobileca.ca.services import ca_init
    from mobileca.core.clock import now
    from mobileca.shield.models import AccessToken, ClaimSession, Credential

    ca_init()
    moment = now()
    service_no = "ESDBENCH" + secrets.token_hex(4).upper()
    owner = f"credential:{service_no}"
    profile = facade.key_profile(profile_name)
    sign_key, encrypt_key = facade.generate_user_key(profile), facade.generate_user_key(profile)
    issued = facade.credential_issue(
        owner_id=owner,
        subject=facade.Subject(enterprise_name="基准测试企业", uscc="91360200MA35A1B20J", claimant_name="张三"),
        sign_public_key=sign_key.public_key(),
        encrypt_public_key=encrypt_key.public_key(),
        not_after=moment + timedelta(days=365),
    )
    claim = ClaimSession.objects.create(
        card_ref="BENCH",
        platform="基准测试平台",
        enterprise_name="基准测试企业",
        enterprise_uscc="91360200MA35A1B20J",
        ticket="bench-" + secrets.token_hex(8),
        ticket_expires_at=moment,
        status="activated",
        claimant_account=BENCH_ACCOUNT,
        step="done",
        service_no=service_no,
        created_at=moment,
    )
    Credential.objects.create(
        claim=claim,
        account=claim.claimant_account,
        enterprise_uscc=claim.enterprise_uscc,
        service_no=service_no,
        key_profile=profile.name,
        sign_key_wrapped=facade.wrap_private_key(owner_id=f"{owner}:sign", key=sign_key),
        encrypt_key_wrapped=facade.wrap_private_key(owner_id=f"{owner}:encrypt", key=encrypt_key),
        sign_serial=issued.sign_serial,
        encrypt_serial=issued.encrypt_serial,
        pin_hash=PasswordHasher().hash(pin),
        activated_at=moment,
        expires_at=moment + timedelta(days=365),
    )
    token = "mcu_" + secrets.token_urlsafe(32)
    AccessToken.objects.create(
        token_digest=hashlib.sha256(token.encode()).hexdigest(),
        account=claim.claimant_account,
        client_name="bench",
        created_at=moment,
        expires_at=moment + timedelta(hours=1),
    )
    return service_no, token, sign_key
