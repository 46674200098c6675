"""SM2 signatures per second through the remote-signing API over HTTP (gunicorn, two workers, loopback, a keep-alive
client), authorisation included — ``credentials/authorize`` with the PIN (hash algorithm SM3; argon2id verification,
row lock, audit) then ``signatures/signHash`` with signAlgo SM3withSM2 (1.2.156.10197.1.501) over e = SM3(Z ‖ M)
values — once with one hash per authorisation and once with a batch of 100 hashes per authorisation, against the
raw ``Sm2PrivateKey.sign_digest`` rate (the system OpenSSL 3 through ``ca.sm2``) measured in the same run (issue 19).

Runs on PostgreSQL when ``BENCH_DATABASE_URL`` names a server database it may drop and create, else on SQLite.
"""

from __future__ import annotations

import base64
import os
import secrets

from _harness import bench_credential, django_setup, rate, report, serve, stop

SINGLE_N = 60
BATCH_SIZE = 100
BATCHES = 10
RAW_N = 3000
PIN = "135790"
SM3 = "1.2.156.10197.1.401"
SM2_SM3 = "1.2.156.10197.1.501"


def main() -> None:
    django_setup(database_env="BENCH_DATABASE_URL")
    import httpx

    from mobileca.ca import facade

    service_no, token, sign_key = bench_credential("sm2", PIN)
    public = sign_key.public_key()

    server, root = serve(workers=2)
    base = root + "/csc/v2"
    try:
        with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:

            def signed(count: int) -> None:
                messages = [secrets.token_bytes(64) for _ in range(count)]
                digests = [base64.b64encode(public.digest(message)).decode() for message in messages]
                authorized = client.post(
                    f"{base}/credentials/authorize",
                    json={
                        "credentialID": service_no,
                        "numSignatures": count,
                        "hashes": digests,
                        "hashAlgorithmOID": SM3,
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
                        "hashAlgorithmOID": SM3,
                        "signAlgo": SM2_SM3,
                    },
                )
                assert response.status_code == 200 and len(response.json()["signatures"]) == count, response.text
                first = base64.b64decode(response.json()["signatures"][0])
                assert public.verify(first, messages[0]), "the SM2 signature does not verify over the message"

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
    finally:
        stop(server)

    raw_key = facade.generate_user_key(facade.key_profile("sm2"))
    assert isinstance(raw_key, facade.Sm2PrivateKey)
    e = raw_key.public_key().digest(b"raw")

    def raw() -> None:
        for _ in range(RAW_N):
            raw_key.sign_digest(e)

    raw_rate = rate(RAW_N, raw)
    database = "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    report(f"sm2_signhash_http_one_hash_per_authorisation_{database}", single_rate, "signatures/s", raw_rate)
    report(f"sm2_signhash_http_{BATCH_SIZE}_hashes_per_authorisation_{database}", batch_rate, "signatures/s", raw_rate)


if __name__ == "__main__":
    main()
