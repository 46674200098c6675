"""The CA, for the key-file back-end and for SoftHSM2 (PKCS#11):

* certificates issued per second (a credential's two certificates, database write and audit included) against
  ``cryptography``'s raw build+sign rate of the same certificate with an in-memory key, in one process;
* the same with two processes issuing at once (the issue-15 figure: PostgreSQL, goal >= 1,000/s), against the raw
  build+sign rate of two processes at once, measured the same way in the same run: each process signs its share
  after a common start, and the rate is all certificates over the time from the common start to the last finish;
(OCSP over HTTP is measured by bench_ocsp.py.)

Runs on PostgreSQL when ``BENCH_DATABASE_URL`` names a server database it may drop and create, else on SQLite.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from _harness import django_setup, rate, report

ISSUE_N = 60
PARALLEL_PROCESSES = 2
PARALLEL_N = 300  # credentials (two certificates each) per process
SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"


def softhsm_token() -> str | None:
    if not Path(SOFTHSM).exists() or shutil.which("softhsm2-util") is None:
        return None
    directory = Path(tempfile.mkdtemp(prefix="mobileca-bench-hsm-"))
    (directory / "tokens").mkdir()
    (directory / "softhsm2.conf").write_text(
        f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(directory / "softhsm2.conf")
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "bench", "--so-pin", "12345678", "--pin", "1234"],  # noqa: S607
        check=True,
        capture_output=True,
    )
    return "bench"


def _configure_ca(env: dict[str, str], var_dir: Path) -> None:
    """Point this process's CA settings at the back-end of ``env`` (the server and the workers get the same)."""
    from django.conf import settings

    settings.MOBILECA_CA = {
        **settings.MOBILECA_CA,
        "backend": env["MOBILECA_CA_BACKEND"],
        "key_dir": Path(env.get("MOBILECA_CA_KEY_DIR", str(var_dir / "ca"))),
        "passphrase": env.get("MOBILECA_CA_PASSPHRASE"),
        "pkcs11_library": env.get("MOBILECA_PKCS11_LIBRARY", SOFTHSM),
        "pkcs11_token": env.get("MOBILECA_PKCS11_TOKEN", ""),
        "pkcs11_pin_secret": env.get("MOBILECA_PKCS11_PIN"),
    }


def _subject() -> object:
    from mobileca.ca.profiles import Subject

    return Subject(enterprise_name="基准测试企业", uscc="91360200MA35A1B20J", claimant_name="张三")


def _raw_sql_store(name: str, kind: str, index: int) -> Callable[[int, list[Any]], None]:
    """The rows ``credential_issue`` writes, written the rawest way: one psycopg connection, per credential one
    transaction with one multi-row INSERT of the two certificates and one of their two events, then the commit."""
    import json
    import secrets

    import psycopg
    from cryptography.hazmat.primitives import serialization
    from psycopg.types.json import Jsonb

    from mobileca.ca.models import Authority
    from mobileca.core.clock import now

    issuing_pk = Authority.objects.get(role="issuing", is_active=True).pk
    url = os.environ["DATABASE_URL"]
    connection = psycopg.connect(url.replace("postgres://", "postgresql://", 1))

    def store(position: int, certificates: list[Any]) -> None:
        moment, owner = now(), f"{name}-{kind}-p{index}-{position}"
        usages = ("sign", "encrypt")
        with connection.transaction():
            connection.execute(
                "INSERT INTO ca_issuedcertificate (serial_hex, owner_id, usage, subject_cn, certificate_der, "
                "not_before, not_after, status, revocation_reason, created_at, authority_id) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, 'good', '', %s, %s), (%s, %s, %s, %s, %s, %s, %s, 'good', '', %s, %s) "
                "RETURNING id",
                [
                    value
                    for usage, certificate in zip(usages, certificates, strict=True)
                    for value in (
                        f"{certificate.serial_number:x}",
                        owner,
                        usage,
                        "基准测试企业",
                        certificate.public_bytes(serialization.Encoding.DER),
                        certificate.not_valid_before_utc,
                        certificate.not_valid_after_utc,
                        moment,
                        issuing_pk,
                    )
                ],
            ).fetchall()
            connection.execute(
                "INSERT INTO audit_auditevent (occurred_at, actor, action, subject, data, salt) VALUES "
                "(%s, %s, %s, %s, %s, %s), (%s, %s, %s, %s, %s, %s)",
                [
                    value
                    for usage, certificate in zip(usages, certificates, strict=True)
                    for value in (
                        moment,
                        "system:ca",
                        "ca.certificate_issued",
                        f"cert:{certificate.serial_number:x}",
                        Jsonb(json.loads(json.dumps({"owner": owner, "usage": usage}))),
                        secrets.token_hex(16),
                    )
                ],
            )

    return store


def _parallel_worker(
    kind: str, name: str, index: int, env: dict[str, str], var_dir: str, ready: object, results: object
) -> None:
    """One of the processes issuing at once (started with ``spawn``: a fresh interpreter, its own connection and
    key back-end session). It prepares its keys and warms its caches, waits for the common start, issues
    ``PARALLEL_N`` credentials (``kind`` "db"), or builds and signs the same certificates raw (``kind`` "raw"; with
    ``kind`` "sql" it also writes the same rows as the service, two certificates and two events per transaction,
    with bare psycopg: the database's own floor), and reports when it finished."""
    import time

    import django

    django.setup()
    from mobileca.ca.keys import generate_user_key
    from mobileca.ca.profiles import entity_certificate, root_certificate
    from mobileca.ca.services import credential_issue
    from mobileca.core.clock import now

    _configure_ca(env, Path(var_dir))
    subject = _subject()
    keys = [(generate_user_key().public_key(), generate_user_key().public_key()) for _ in range(PARALLEL_N + 1)]
    if kind == "db":

        def one(position: int, sign_key: object, encrypt_key: object) -> None:
            credential_issue(
                owner_id=f"{name}-{kind}-p{index}-{position}",
                subject=subject,  # type: ignore[arg-type]
                sign_public_key=sign_key,  # type: ignore[arg-type]
                encrypt_public_key=encrypt_key,  # type: ignore[arg-type]
                valid_days=365,
            )

    else:
        from cryptography.hazmat.primitives.asymmetric import ec

        raw_key = ec.generate_private_key(ec.SECP256R1())
        raw_issuer = root_certificate(key=raw_key, public_key=raw_key.public_key(), now=now())
        store = _raw_sql_store(name, kind, index) if kind == "sql" else None

        def one(position: int, sign_key: object, encrypt_key: object) -> None:
            moment = now()
            built = [
                entity_certificate(
                    issuer_key=raw_key,
                    issuer=raw_issuer,
                    subject=subject,  # type: ignore[arg-type]
                    usage=usage,
                    public_key=public_key,  # type: ignore[arg-type]
                    not_before=moment,
                    not_after=moment + timedelta(days=365),
                )
                for usage, public_key in (("sign", sign_key), ("encrypt", encrypt_key))
            ]
            if store is not None:
                store(position, built)

    one(-1, *keys[0])  # warm: imports, the issuing authority's cache, the connection
    ready.wait(timeout=300)  # type: ignore[attr-defined]  # the common start: every worker and the parent
    for position, (sign_key, encrypt_key) in enumerate(keys[1:]):
        one(position, sign_key, encrypt_key)
    results.put(time.time())  # type: ignore[attr-defined]


def parallel_rate(kind: str, name: str, env: dict[str, str], var_dir: Path) -> float:
    """Certificates per second of ``PARALLEL_PROCESSES`` processes issuing at once (see the module docstring)."""
    import time

    context = multiprocessing.get_context("spawn")
    ready, results = context.Barrier(PARALLEL_PROCESSES + 1), context.Queue()
    workers = [
        context.Process(target=_parallel_worker, args=(kind, name, index, env, str(var_dir), ready, results))
        for index in range(PARALLEL_PROCESSES)
    ]
    for worker in workers:
        worker.start()
    ready.wait(timeout=300)
    began = time.time()
    finished = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        if worker.exitcode != 0:
            raise RuntimeError(f"a {kind} worker failed (exit code {worker.exitcode})")
    return PARALLEL_PROCESSES * PARALLEL_N * 2 / (max(finished) - began)


def measure(name: str, env: dict[str, str], subject: object, keys: list[tuple[object, object]]) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from mobileca.ca.backends.factory import backend
    from mobileca.ca.models import Authority
    from mobileca.ca.profiles import entity_certificate, root_certificate
    from mobileca.ca.services import ca_init, credential_issue
    from mobileca.core.clock import now

    Authority.objects.update(is_active=False)  # a fresh hierarchy in this back-end
    ca_init(key_backend=backend())

    def issue() -> None:
        for index, (sign_key, encrypt_key) in enumerate(keys):
            credential_issue(
                owner_id=f"{name}-{index}",
                subject=subject,
                sign_public_key=sign_key,  # type: ignore[arg-type]
                encrypt_public_key=encrypt_key,
                valid_days=365,
            )  # type: ignore[arg-type]

    issued_rate = rate(2 * len(keys), issue)
    # The raw floor: the same profile built and signed by cryptography with an in-memory key, no database.
    raw_key = ec.generate_private_key(ec.SECP256R1())
    raw_issuer = root_certificate(key=raw_key, public_key=raw_key.public_key(), now=now())

    def raw_issue() -> None:
        for sign_key, encrypt_key in keys:
            for usage, public_key in (("sign", sign_key), ("encrypt", encrypt_key)):
                entity_certificate(
                    issuer_key=raw_key,
                    issuer=raw_issuer,
                    subject=subject,
                    usage=usage,  # type: ignore[arg-type]
                    public_key=public_key,
                    not_before=now(),
                    not_after=now() + timedelta(days=365),
                )  # type: ignore[arg-type]

    database = "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    report(f"certificates_issued_{name}_{database}", issued_rate, "certs/s", rate(2 * len(keys), raw_issue))
    var_dir = Path(os.environ["MOBILECA_VAR_DIR"])
    parallel = parallel_rate("db", name, env, var_dir)
    label = f"certificates_issued_{PARALLEL_PROCESSES}_processes_{name}_{database}"
    report(label, parallel, "certs/s", parallel_rate("raw", name, env, var_dir))
    if database == "postgresql":  # the same rows with bare psycopg: how close the service is to the database's floor
        report(f"{label}_vs_bare_sql", parallel, "certs/s", parallel_rate("sql", name, env, var_dir))


def main() -> None:
    var_dir = django_setup(database_env="BENCH_DATABASE_URL")
    token = softhsm_token()
    from mobileca.ca.keys import generate_user_key

    subject = _subject()
    keys = [(generate_user_key().public_key(), generate_user_key().public_key()) for _ in range(ISSUE_N)]
    backends = [
        (
            "keyfile",
            {
                "MOBILECA_CA_BACKEND": "keyfile",
                "MOBILECA_CA_KEY_DIR": str(var_dir / "ca"),
                "MOBILECA_CA_PASSPHRASE": "bench passphrase 123",
            },
        )
    ]
    if token:
        backends.append(
            (
                "softhsm",
                {
                    "MOBILECA_CA_BACKEND": "pkcs11",
                    "MOBILECA_PKCS11_LIBRARY": SOFTHSM,
                    "MOBILECA_PKCS11_TOKEN": token,
                    "MOBILECA_PKCS11_PIN": "1234",
                },
            )
        )
    for name, env in backends:
        # This process, the server it starts and the parallel workers use the same back-end and database.
        _configure_ca(env, var_dir)
        measure(name, env, subject, keys)


if __name__ == "__main__":
    main()
