"""Signatures per second through the remote-signing API over HTTP (gunicorn, two workers, loopback, a keep-alive
client), authorisation included — ``credentials/authorize`` with the PIN (argon2id verification, row lock, audit)
then ``signatures/signHash`` — once with one hash per authorisation and once with a batch of 100 hashes per
authorisation, against the raw ECDSA P-256 sign rate of ``cryptography`` measured in the same run;
and authorisations with the PIN per second when several clients ask for the same credential at once (issue 15: the
argon2id check runs before the credential's row lock, so they no longer queue behind each other's check), against
argon2id verifications per second of as many threads at once, in the same run; and how long taking the
credential's row lock waits while two threads keep authorising with the PIN on it (in this process, through the
services), against the same lock taken on the idle credential.

Runs on PostgreSQL when ``BENCH_DATABASE_URL`` names a server database it may drop and create, else on SQLite.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import threading
from collections.abc import Callable

from _harness import BENCH_ACCOUNT, bench_credential, django_setup, rate, report, serve, stop

SINGLE_N = 60
BATCH_SIZE = 100
BATCHES = 10
RAW_N = 5000
CONCURRENT_CLIENTS = 4  # against gunicorn's two workers: two requests in flight at any time
CONCURRENT_N = 10  # authorisations per client
LOCK_PROBES = 30
PIN = "135790"


def main() -> None:
    django_setup(database_env="BENCH_DATABASE_URL")
    import httpx
    from argon2 import PasswordHasher
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    from mobileca.ca import facade

    service_no, token, _sign_key = bench_credential(facade.DEFAULT_KEY_PROFILE.name, PIN)

    server, root = serve(workers=2)
    base = root + "/csc/v2"
    try:
        with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:

            def signed(count: int) -> None:
                digests = [base64.b64encode(secrets.token_bytes(32)).decode() for _ in range(count)]
                authorized = client.post(
                    f"{base}/credentials/authorize",
                    json={
                        "credentialID": service_no,
                        "numSignatures": count,
                        "hashes": digests,
                        "authData": [{"id": "PIN", "value": PIN}],
                    },
                )
                assert authorized.status_code == 200, authorized.text
                response = client.post(
                    f"{base}/signatures/signHash",
                    json={
                        "credentialID": service_no,
                        "SAD": authorized.json()["SAD"],
                        "hashes": digests,
                        "signAlgo": "1.2.840.10045.4.3.2",
                    },
                )
                assert response.status_code == 200 and len(response.json()["signatures"]) == count, response.text

            signed(1)  # warm both workers (imports, master key)
            signed(1)

            def one_each() -> None:
                for _ in range(SINGLE_N):
                    signed(1)

            def batched() -> None:
                for _ in range(BATCHES):
                    signed(BATCH_SIZE)

            single_rate = rate(SINGLE_N, one_each)
            batch_rate = rate(BATCHES * BATCH_SIZE, batched)
        concurrent_rate = rate(CONCURRENT_CLIENTS * CONCURRENT_N, lambda: _authorize_at_once(base, token, service_no))
    finally:
        stop(server)

    idle_wait = _lock_wait_ms(service_no, BENCH_ACCOUNT, busy=False)
    busy_wait = _lock_wait_ms(service_no, BENCH_ACCOUNT, busy=True)
    raw_key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(b"raw").digest()
    algorithm = ec.ECDSA(utils.Prehashed(hashes.SHA256()))

    def raw() -> None:
        for _ in range(RAW_N):
            raw_key.sign(digest, algorithm)

    raw_rate = rate(RAW_N, raw)
    pin_hash = PasswordHasher().hash(PIN)
    argon2_rate = rate(
        CONCURRENT_CLIENTS * CONCURRENT_N,
        lambda: _in_threads(lambda: [PasswordHasher().verify(pin_hash, PIN) for _ in range(CONCURRENT_N)]),
    )
    database = "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    report(f"signhash_http_one_hash_per_authorisation_{database}", single_rate, "signatures/s", raw_rate)
    report(f"signhash_http_{BATCH_SIZE}_hashes_per_authorisation_{database}", batch_rate, "signatures/s", raw_rate)
    report(
        f"pin_authorisations_http_{CONCURRENT_CLIENTS}_clients_one_credential_{database}",
        concurrent_rate,
        "authorisations/s",
        argon2_rate,
    )
    report(f"credential_lock_wait_during_pin_checks_{database}", busy_wait, "ms", idle_wait)


def _lock_wait_ms(service_no: str, account: str, *, busy: bool) -> float:
    """Mean milliseconds to take the credential's row lock (``LOCK_PROBES`` times), with two threads authorising
    with the PIN on the same credential all the while when ``busy``."""
    import time

    from django.db import connection, transaction

    from mobileca.shield.callers import Caller
    from mobileca.shield.keyuse import authorize
    from mobileca.shield.locks import lock_credential_pk
    from mobileca.shield.models import Credential

    pk = Credential.objects.get(service_no=service_no).pk
    stop = threading.Event()

    def keep_authorising() -> None:
        try:
            while not stop.is_set():
                authorize(
                    caller=Caller("token", account),
                    credential_id=service_no,
                    operation="sign",
                    hashes=[base64.b64encode(secrets.token_bytes(32)).decode()],
                    pin=PIN,
                )
        finally:
            connection.close()

    threads = [threading.Thread(target=keep_authorising) for _ in range(2 if busy else 0)]
    for thread in threads:
        thread.start()
    time.sleep(0.5 if busy else 0)
    waits = []
    for _ in range(LOCK_PROBES):
        started = time.perf_counter()
        with transaction.atomic():
            lock_credential_pk(pk)
            waits.append(time.perf_counter() - started)
        time.sleep(0.02)
    stop.set()
    for thread in threads:
        thread.join()
    return 1000 * sum(waits) / len(waits)


def _in_threads(work: Callable[[], object]) -> None:
    """``work`` in ``CONCURRENT_CLIENTS`` threads released together (argon2 and httpx release the GIL)."""
    barrier = threading.Barrier(CONCURRENT_CLIENTS)
    failures: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            work()
        except BaseException as failure:  # noqa: BLE001 - reported by the main thread
            failures.append(failure)

    threads = [threading.Thread(target=run) for _ in range(CONCURRENT_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def _authorize_at_once(base: str, token: str, service_no: str) -> None:
    """Each client its own keep-alive connection, all asking for authorisations of the same credential."""
    import httpx

    def client_work() -> None:
        with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {token}"}) as client:
            for _ in range(CONCURRENT_N):
                digest = base64.b64encode(secrets.token_bytes(32)).decode()
                response = client.post(
                    f"{base}/credentials/authorize",
                    json={
                        "credentialID": service_no,
                        "numSignatures": 1,
                        "hashes": [digest],
                        "authData": [{"id": "PIN", "value": PIN}],
                    },
                )
                assert response.status_code == 200, response.text

    _in_threads(client_work)


if __name__ == "__main__":
    main()
