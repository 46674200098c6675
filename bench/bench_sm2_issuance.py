"""SM2 credentials issued (issue 19), on the key-file back-end:

* certificates issued per second through ``services.credential_issue`` with SM2 keys: a credential's two
  certificates from the SM2 issuing CA and their four pre-produced OCSP answers (SHA-1 and SHA-256 CertIDs), all
  SM3withSM2, with the database write and the audit events, in one process;
* the same with two processes issuing at once, each process's share after a common start, the rate being all
  certificates over the time from the common start to the last finish (as ``bench_ca.py`` measures the ECDSA CA).

The baseline is the raw SM2 signature rate of ``mobileca.ca.sm2`` (SM3, ID 1234567812345678) over a message of a
certificate's to-be-signed size, in the same run (and, for the two processes, two processes signing at once). Each
credential costs six signatures (two certificates, four OCSP answers), so a ratio of 1/3 would be the signatures
alone; what is below it is asn1crypto building the structures, parsing them back, and the database.

The SM2 CA's key is sealed in its row and unsealed once per process, so the key back-end only matters at that
moment: the key-file back-end alone is measured. Runs on PostgreSQL when ``BENCH_DATABASE_URL`` names a server
database it may drop and create, else on SQLite.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from pathlib import Path

from _harness import django_setup, keyfile_ca, rate, report

ISSUE_N = 150  # credentials (two certificates each) in one process
PARALLEL_PROCESSES = 2
PARALLEL_N = 150  # credentials per process
SIGNATURES_PER_CREDENTIAL = 6
TBS = bytes(range(256)) * 3  # about the size of an SM2 end-entity certificate's TBSCertificate


def _subject() -> object:
    from mobileca.ca.profiles import Subject

    return Subject(enterprise_name="基准测试企业", uscc="91360200MA35A1B20J", claimant_name="张三")


def _keys(count: int) -> list[tuple[object, object]]:
    from mobileca.ca import sm2

    return [(sm2.generate().public_key(), sm2.generate().public_key()) for _ in range(count)]


def _issuer(name: str, subject: object) -> Callable[[int, object, object], None]:
    from mobileca.ca.services import credential_issue

    def one(position: int, sign_key: object, encrypt_key: object) -> None:
        credential_issue(
            owner_id=f"{name}-{position}",
            subject=subject,  # type: ignore[arg-type]
            sign_public_key=sign_key,  # type: ignore[arg-type]
            encrypt_public_key=encrypt_key,  # type: ignore[arg-type]
            valid_days=365,
        )

    return one


def _raw_signer(count: int) -> Callable[[], None]:
    """``count`` raw SM2 signatures of a TBS-sized message with an in-memory key."""
    from mobileca.ca import sm2

    key = sm2.generate()

    def sign() -> None:
        for _ in range(count):
            key.sign(TBS)

    return sign


def _parallel_worker(kind: str, index: int, env: dict[str, str], ready: object, results: object) -> None:
    """One of the processes working at once (``spawn``: a fresh interpreter, its own connection): ``kind`` "db"
    issues ``PARALLEL_N`` SM2 credentials, "raw" makes as many raw SM2 signatures as they cost. Reports when done."""
    import django

    os.environ.update(env)
    django.setup()
    from django.conf import settings

    settings.MOBILECA_CA = {
        **settings.MOBILECA_CA,
        "backend": "keyfile",
        "key_dir": Path(env["MOBILECA_CA_KEY_DIR"]),
        "passphrase": env["MOBILECA_CA_PASSPHRASE"],
    }
    if kind == "db":
        keys = _keys(PARALLEL_N + 1)
        one = _issuer(f"parallel-p{index}", _subject())
        one(-1, *keys[0])  # warm: imports, the SM2 issuing CA's key unsealed, the connection

        def work() -> None:
            for position, (sign_key, encrypt_key) in enumerate(keys[1:]):
                one(position, sign_key, encrypt_key)

    else:
        work = _raw_signer(PARALLEL_N * SIGNATURES_PER_CREDENTIAL)
        _raw_signer(20)()  # warm
    ready.wait(timeout=300)  # type: ignore[attr-defined]  # the common start: every worker and the parent
    work()
    results.put(time.time())  # type: ignore[attr-defined]


def parallel_rate(kind: str, env: dict[str, str]) -> float:
    """Certificates per second ("db") or signatures per second ("raw") of ``PARALLEL_PROCESSES`` processes."""
    context = multiprocessing.get_context("spawn")
    ready, results = context.Barrier(PARALLEL_PROCESSES + 1), context.Queue()
    workers = [
        context.Process(target=_parallel_worker, args=(kind, index, env, ready, results))
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
    per_process = PARALLEL_N * 2 if kind == "db" else PARALLEL_N * SIGNATURES_PER_CREDENTIAL
    return PARALLEL_PROCESSES * per_process / (max(finished) - began)


def main() -> None:
    var_dir = django_setup(database_env="BENCH_DATABASE_URL")
    env = keyfile_ca(var_dir)
    from mobileca.ca.backends.factory import backend
    from mobileca.ca.models import IssuedCertificate, OcspResponse
    from mobileca.ca.services import ca_init

    ca_init(key_backend=backend())
    keys = _keys(ISSUE_N + 1)
    one = _issuer("single", _subject())
    one(-1, *keys[0])  # warm

    def issue() -> None:
        for position, (sign_key, encrypt_key) in enumerate(keys[1:]):
            one(position, sign_key, encrypt_key)

    issued = rate(2 * ISSUE_N, issue)
    _raw_signer(20)()  # warm
    raw = rate(ISSUE_N * SIGNATURES_PER_CREDENTIAL, _raw_signer(ISSUE_N * SIGNATURES_PER_CREDENTIAL))
    # what was measured is what was asked for: SM2 certificates, each with its two OCSP answers
    sm2_rows = IssuedCertificate.objects.filter(authority__role="sm2_issuing")
    assert sm2_rows.count() == 2 * (ISSUE_N + 1), sm2_rows.count()
    assert OcspResponse.objects.filter(certificate__in=sm2_rows).count() == 4 * (ISSUE_N + 1)
    database = "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    report(f"sm2_certificates_issued_keyfile_{database}", issued, "certs/s", raw)
    label = f"sm2_certificates_issued_{PARALLEL_PROCESSES}_processes_keyfile_{database}"
    report(label, parallel_rate("db", env), "certs/s", parallel_rate("raw", env))


if __name__ == "__main__":
    main()
