"""Two-party SM2 signatures per second over HTTP (issue 20): gunicorn (four workers, loopback) and PHONES concurrent
headless phones (threads, each its own phone session, bearer token and split-key credential) doing the whole walk
for one digest at a time — ``credentials/authorize`` without a PIN (202, the request waits for the phone) → the
phone's ``/h5/cosign/approve`` with the PIN (argon2id, counted) → its signing round ``/h5/cosign/sign`` → the
finished signature back to ``/h5/cosign/sign`` (verified under P by the service) → ``credentials/authorizeCheck``
(the SAD) → ``signatures/signHash`` (returns the phone's signature). Six requests and both halves of the arithmetic
per signature; the phones' half (``ca.sm2_cosign.PhoneShare``) runs in this process, on the same two cores.

Printed beside it, measured in the same run: the raw one-party ``Sm2PrivateKey.sign_digest`` rate (the baseline of
both lines) and the one-party path over HTTP on a whole-key SM2 credential (``authorize`` with the PIN, then
``signHash``; the same PHONES threads).

Runs on PostgreSQL when ``BENCH_DATABASE_URL`` names a server database it may drop and create, else on SQLite.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from _harness import bench_credential, django_setup, rate, report, serve, stop

PHONES = 8
SECONDS = 20.0
ONE_PARTY_SECONDS = 8.0
DECRYPT_SECONDS = 12.0
DECRYPT_CREDENTIALS = 4
RAW_N = 3000
PIN = "135790"
SM3 = "1.2.156.10197.1.401"
SM2_SM3 = "1.2.156.10197.1.501"


def split_credential(account: str) -> tuple[str, str, Any, Any]:
    """An active split-key SM2 credential of ``account`` made as a claim's activation leaves it (the phone's halves
    generated with the service's key generation, the shares certified), a bearer token of the account, and the
    phone's signing and encryption halves."""
    from datetime import timedelta

    from argon2 import PasswordHasher

    from mobileca.ca import facade
    from mobileca.ca.sm2_cosign import PhoneShare, ServerShare
    from mobileca.core.clock import now
    from mobileca.shield import cosign_keys
    from mobileca.shield.models import AccessToken, ClaimSession, CosignShare, Credential

    moment = now()
    service_no = "ESDCOSIGN" + secrets.token_hex(4).upper()
    halves: dict[str, tuple[PhoneShare, ServerShare]] = {}
    for usage in cosign_keys.USAGES:
        phone, session = PhoneShare(), secrets.token_urlsafe(16)
        server, answer = ServerShare.keygen(phone.keygen_message(session), session)
        phone.accept_public_key(answer)
        halves[usage] = (phone, server)
    issued = facade.credential_issue(
        owner_id=f"credential:{service_no}",
        subject=facade.Subject(enterprise_name="基准测试企业", uscc="91360200MA35A1B20J", claimant_name="张三"),
        sign_public_key=facade.Sm2PublicKey.from_point(halves["sign"][1].public_point),
        encrypt_public_key=facade.Sm2PublicKey.from_point(halves["encrypt"][1].public_point),
        not_after=moment + timedelta(days=365),
    )
    claim = ClaimSession.objects.create(
        card_ref="BENCH-" + service_no,
        platform="基准测试平台",
        enterprise_name="基准测试企业",
        enterprise_uscc="91360200MA35A1B20J",
        ticket="bench-" + secrets.token_hex(8),
        ticket_expires_at=moment,
        status="activated",
        claimant_account=account,
        step="done",
        service_no=service_no,
        created_at=moment,
    )
    credential = Credential.objects.create(
        claim=claim,
        account=account,
        enterprise_uscc=claim.enterprise_uscc,
        service_no=service_no,
        key_profile="sm2",
        key_custody=cosign_keys.SPLIT,
        sign_key_wrapped=b"",
        encrypt_key_wrapped=b"",
        sign_serial=issued.sign_serial,
        encrypt_serial=issued.encrypt_serial,
        pin_hash=PasswordHasher().hash(PIN),
        activated_at=moment,
        expires_at=moment + timedelta(days=365),
    )
    for usage, (_phone, server) in halves.items():
        ref = cosign_keys.new_ref()
        CosignShare.objects.create(
            ref=ref,
            credential=credential,
            usage=usage,
            d2_wrapped=cosign_keys.wrap(ref, server.d2),
            p1=server.p1.hex(),
            public_key=server.public_point.hex(),
            pepper_wrapped=cosign_keys.wrap(ref, secrets.token_bytes(32)),
            created_at=moment,
            certified_at=moment,
        )
    token = "mcu_" + secrets.token_urlsafe(32)
    AccessToken.objects.create(
        token_digest=hashlib.sha256(token.encode()).hexdigest(),
        account=account,
        client_name="bench",
        created_at=moment,
        expires_at=moment + timedelta(hours=1),
    )
    return service_no, token, halves["sign"][0], halves["encrypt"][0]


def sealed_for(service_no: str) -> tuple[bytes, bytes]:
    """A small GB/T 35275 envelope (SM2 key transport, SM4-GCM) for the credential's encryption certificate: its
    header (what the decryption is authorised for and opens) and the detached ciphertext."""
    import io

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from mobileca.ca import facade
    from mobileca.cmslib import gm
    from mobileca.shield.models import Credential

    pem = facade.certificate_pem(serial_hex=Credential.objects.get(service_no=service_no).encrypt_serial)
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    ciphertext = io.BytesIO()
    sealed = gm.seal(io.BytesIO(b"bid file " * 100), ciphertext, der, mode="gcm")
    return sealed.header, ciphertext.getvalue()


def opens(header: bytes, key: bytes, ciphertext: bytes) -> bool:
    """Whether ``key`` opens the envelope (the GCM tag checked)."""
    import io
    import tempfile
    from pathlib import Path

    from mobileca.cmslib import gm

    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "opened"
        gm.open_with_key(header, key, io.BytesIO(ciphertext), target)
        return target.read_bytes() == b"bid file " * 100


def phone_cookies(account: str) -> dict[str, str]:
    """A signed-in phone session of ``account`` (what the Alipay login leaves in the session) and a CSRF token."""
    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore

    from mobileca.core.clock import now
    from mobileca.shield.views.common import SESSION_ACCOUNT, SESSION_ACCOUNT_AT

    store = SessionStore()
    store[SESSION_ACCOUNT], store[SESSION_ACCOUNT_AT] = account, now().timestamp()
    store.save()
    return {settings.SESSION_COOKIE_NAME: str(store.session_key), settings.CSRF_COOKIE_NAME: secrets.token_hex(16)}


def concurrently(threads: int, seconds: float, walk: Callable[[int], None]) -> float:
    """Each of ``threads`` threads runs ``walk(index)`` (one signature) over and over for ``seconds``; returns the
    signatures per second all together. A failure in any thread stops the benchmark."""
    done, failures = [0] * threads, []
    until = time.monotonic() + seconds

    def run(index: int) -> None:
        try:
            while time.monotonic() < until:
                walk(index)
                done[index] += 1
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    started = time.perf_counter()
    workers = [threading.Thread(target=run, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise failures[0]
    return sum(done) / elapsed


def main() -> None:
    django_setup(database_env="BENCH_DATABASE_URL")
    import httpx

    from mobileca.ca import facade

    whole_service_no, whole_token, whole_key = bench_credential("sm2", PIN)  # ca_init first
    accounts = [f"20880000000{index:05d}" for index in range(PHONES)]
    credentials = [split_credential(account) for account in accounts]
    cookies = [phone_cookies(account) for account in accounts]

    server, root = serve(workers=4)
    base = root + "/csc/v2"
    tools = [httpx.Client(timeout=60, headers={"Authorization": f"Bearer {token}"}) for _, token, *_ in credentials]
    # the decryptions on credentials of their own, DECRYPT_CREDENTIALS per phone taken in turn: a credential's pending
    # requests are limited (30 an hour, as a claimant answers), and the signatures above used some of theirs
    openers = [[split_credential(account) for _ in range(DECRYPT_CREDENTIALS)] for account in accounts]
    envelopes = [[sealed_for(service_no) for service_no, *_ in own] for own in openers]
    turns = [0] * PHONES
    phones = [httpx.Client(timeout=60, cookies=jar, headers={"X-CSRFToken": jar["csrftoken"]}) for jar in cookies]
    whole = httpx.Client(timeout=60, headers={"Authorization": f"Bearer {whole_token}"})
    try:

        def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
            assert response.status_code == status, (response.status_code, response.text)
            return dict(response.json())

        def two_party(index: int) -> None:
            service_no, _, share, _ = credentials[index]
            tool, phone = tools[index], phones[index]
            e = share.digest(secrets.token_bytes(64))
            digest = base64.b64encode(e).decode()
            pending = ok(
                tool.post(
                    f"{base}/credentials/authorize",
                    json={"credentialID": service_no, "numSignatures": 1, "hashes": [digest], "hashAlgorithmOID": SM3},
                ),
                202,
            )
            ref = pending["authorizationURL"].rstrip("/").rsplit("/", 1)[-1]
            (item,) = ok(phone.post(f"{root}/h5/cosign/approve/", json={"authorization": ref, "pin": PIN}))["rounds"]
            message, secret = share.sign_message(bytes.fromhex(item["e"]), item["session"])
            answer = ok(phone.post(f"{root}/h5/cosign/sign/", json={"session": item["session"], "message": message}))
            signature = share.sign_finish(secret, answer)
            finished = [{"session": item["session"], "signature": base64.b64encode(signature).decode()}]
            done = ok(phone.post(f"{root}/h5/cosign/sign/", json={"authorization": ref, "signatures": finished}))
            assert done == {"status": "authorized"}, done
            sad = ok(tool.post(f"{base}/credentials/authorizeCheck", json={"handle": pending["handle"]}))["SAD"]
            signed = ok(
                tool.post(
                    f"{base}/signatures/signHash",
                    json={
                        "credentialID": service_no,
                        "SAD": sad,
                        "hashes": [digest],
                        "hashAlgorithmOID": SM3,
                        "signAlgo": SM2_SM3,
                    },
                )
            )
            returned = base64.b64decode(signed["signatures"][0])
            assert returned == signature and share.public_key.verify_digest(returned, e), "not the phone's signature"

        def two_party_decrypt(index: int) -> None:
            turn = turns[index] % DECRYPT_CREDENTIALS
            turns[index] += 1
            service_no, _, _, share = openers[index][turn]
            tool, phone = tools[index], phones[index]  # the account's token and phone serve all its credentials
            header, ciphertext = envelopes[index][turn]
            pending = ok(
                tool.post(
                    f"{base}/credentials/authorize",
                    json={
                        "credentialID": service_no,
                        "numSignatures": 1,
                        "hashes": [base64.b64encode(hashlib.sha256(header).digest()).decode()],
                        "operation": "decrypt",
                        "envelope": base64.b64encode(header).decode(),
                    },
                ),
                202,
            )
            ref = pending["authorizationURL"].rstrip("/").rsplit("/", 1)[-1]
            approval = ok(phone.post(f"{root}/h5/cosign/approve/", json={"authorization": ref, "pin": PIN}))
            message = share.decrypt_message(base64.b64decode(approval["ciphertext"]), approval["session"])
            done = ok(
                phone.post(f"{root}/h5/cosign/decrypt/", json={"session": approval["session"], "message": message})
            )
            assert done == {"status": "authorized"}, done
            sad = ok(tool.post(f"{base}/credentials/authorizeCheck", json={"handle": pending["handle"]}))["SAD"]
            opened = ok(
                tool.post(
                    f"{base}/credentials/decrypt",
                    json={"credentialID": service_no, "SAD": sad, "envelope": base64.b64encode(header).decode()},
                )
            )
            assert opens(header, base64.b64decode(opened["contentKey"]), ciphertext), "not the envelope's key"

        whole_public = whole_key.public_key()

        def one_party(_: int) -> None:
            message = secrets.token_bytes(64)
            digest = base64.b64encode(whole_public.digest(message)).decode()
            authorized = ok(
                whole.post(
                    f"{base}/credentials/authorize",
                    json={
                        "credentialID": whole_service_no,
                        "numSignatures": 1,
                        "hashes": [digest],
                        "hashAlgorithmOID": SM3,
                        "authData": [{"id": "PIN", "value": PIN}],
                    },
                )
            )
            signed = ok(
                whole.post(
                    f"{base}/signatures/signHash",
                    json={
                        "credentialID": whole_service_no,
                        "SAD": authorized["SAD"],
                        "hashes": [digest],
                        "hashAlgorithmOID": SM3,
                        "signAlgo": SM2_SM3,
                    },
                )
            )
            assert whole_public.verify(base64.b64decode(signed["signatures"][0]), message), "does not verify"

        for index in range(PHONES):  # warm every worker (imports, master key) and every phone
            two_party(index)
            two_party_decrypt(index)
        one_party(0)
        cosign_rate = concurrently(PHONES, SECONDS, two_party)
        decrypt_rate = concurrently(PHONES, DECRYPT_SECONDS, two_party_decrypt)
        one_party_rate = concurrently(PHONES, ONE_PARTY_SECONDS, one_party)
    finally:
        for client in (*tools, *phones, whole):
            client.close()
        stop(server)

    raw_key = facade.generate_user_key(facade.key_profile("sm2"))
    assert isinstance(raw_key, facade.Sm2PrivateKey)
    e = raw_key.public_key().digest(b"raw")

    def raw() -> None:
        for _ in range(RAW_N):
            raw_key.sign_digest(e)

    raw_rate = rate(RAW_N, raw)
    cipher = raw_key.public_key().encrypt(b"k" * 16)

    def raw_decrypt() -> None:
        for _ in range(RAW_N):
            raw_key.decrypt(cipher)

    raw_decrypt_rate = rate(RAW_N, raw_decrypt)
    database = "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    report("sm2_cosign_http_signatures", cosign_rate, "signatures/s", raw_rate)
    report(f"sm2_one_party_signhash_http_{PHONES}_clients_{database}", one_party_rate, "signatures/s", raw_rate)
    report("sm2_cosign_http_decryptions", decrypt_rate, "decryptions/s", raw_decrypt_rate)


if __name__ == "__main__":
    main()
