"""Two-party SM2 (issue 20, ``mobileca.ca.sm2_cosign``) in one process, single-threaded, each figure beside the
one-party SM2 operation with the whole key (``sm2.Sm2PrivateKey``) measured in the same run:

* ``sm2_cosign_sign_in_process``: a whole two-party signature: the phone's message (Q1 and its proof), the service's
  round (proof check, k2·G + k3·Q1, s2, s3), the phone's finish (s and its check as an ordinary SM2 signature), the
  messages through JSON; baseline ``Sm2PrivateKey.sign_digest``;
* ``sm2_cosign_sign_service_half``: the service's ``sign_round`` alone (what the signing service spends per
  signature; the phone's messages made beforehand); baseline the same;
* ``sm2_cosign_decrypt_in_process``: a two-party decryption of a 16-byte content key (phone T1 + DLEQ proof, the
  service's check and opening); baseline ``Sm2PrivateKey.decrypt``.

The over-HTTP figure of the issue comes with the endpoints. Needs no database.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _harness import report

from mobileca.ca import sm2
from mobileca.ca.sm2_cosign import PhoneShare, ServerShare

SECONDS = 3.0
MESSAGE = bytes(range(200))


def _ops_per_second(operation: Callable[[], object], seconds: float = SECONDS) -> float:
    """Operations per second of ``operation`` over about ``seconds`` (in batches, to keep the clock out of it)."""
    for _ in range(10):  # warm up
        operation()
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(20):
            operation()
        count += 20
    return count / elapsed


def _wire(value: object) -> object:
    return json.loads(json.dumps(value))


def main() -> None:
    phone = PhoneShare()
    server, answer = ServerShare.keygen(_wire(phone.keygen_message("bench-keygen")), "bench-keygen")
    public = phone.accept_public_key(_wire(answer))
    one_party = sm2.generate()
    e, one_party_e = public.digest(MESSAGE), one_party.public_key().digest(MESSAGE)
    rounds = iter(range(1 << 62))

    def two_party_sign() -> bytes:
        session = f"bench-{next(rounds)}"
        message, pending = phone.sign_message(e, session)
        reply = server.sign_round(e.hex(), _wire(message), session)
        return phone.sign_finish(pending, _wire(reply))

    assert public.verify(two_party_sign(), MESSAGE)
    prepared = [(f"pre-{index}", phone.sign_message(e, f"pre-{index}")[0]) for index in range(200)]
    cursor = iter(range(1 << 62))

    def service_half() -> object:
        session, message = prepared[next(cursor) % len(prepared)]
        return server.sign_round(e.hex(), _wire(message), session)

    ciphertext, one_party_ciphertext = public.encrypt(bytes(16)), one_party.public_key().encrypt(bytes(16))

    def two_party_decrypt() -> bytes:
        session = f"dec-{next(rounds)}"
        return server.decrypt_round(ciphertext, _wire(phone.decrypt_message(ciphertext, session)), session)

    assert two_party_decrypt() == bytes(16)

    # The baseline before and after, the better kept: on a shared machine the load changes within seconds.
    half = SECONDS / 2
    baseline_sign = _ops_per_second(lambda: one_party.sign_digest(one_party_e), half)
    cosign = _ops_per_second(two_party_sign)
    service = _ops_per_second(service_half)
    baseline_sign = max(baseline_sign, _ops_per_second(lambda: one_party.sign_digest(one_party_e), half))
    baseline_decrypt = _ops_per_second(lambda: one_party.decrypt(one_party_ciphertext))
    decrypt = _ops_per_second(two_party_decrypt)

    report("sm2_cosign_sign_in_process", cosign, "signatures/s", baseline_sign)
    report("sm2_cosign_sign_service_half", service, "signatures/s", baseline_sign)
    report("sm2_cosign_decrypt_in_process", decrypt, "decryptions/s", baseline_decrypt)


if __name__ == "__main__":
    main()
