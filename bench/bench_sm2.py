"""Raw SM2 rates of ``mobileca.ca.sm2`` (issue 19), single-threaded, on a 200-byte message with the ID
1234567812345678 set on every operation, each beside a baseline measured in the same run:

* ``sm2_sign`` / ``sm2_verify``: ``openssl speed -seconds 3 sm2`` (the same system libcrypto in C, no Python, no ID
  set up, no DER parsing): the ratio is what the binding and the Z computation cost;
* ``sm2_keygen``: P-256 key generation with ``cryptography`` (what a key of today's ECDSA profile costs; ``openssl
  speed`` has no key-generation figure for SM2).

Needs no database. Where ``openssl`` is missing or prints no SM2 line, the figure is printed with ``baseline=n/a``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _harness import report
from cryptography.hazmat.primitives.asymmetric import ec

from mobileca.ca import sm2

SECONDS = 3.0
MESSAGE = bytes(range(200))


def _ops_per_second(operation: Callable[[], object], seconds: float = SECONDS) -> float:
    """Operations per second of ``operation`` over about ``seconds`` (in batches, to keep the clock out of it)."""
    for _ in range(20):  # warm up
        operation()
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(50):
            operation()
        count += 50
    return count / elapsed


def _openssl_speed() -> tuple[float, float] | None:
    """(sign/s, verify/s) from ``openssl speed -seconds 3 sm2``, or None when it cannot be had."""
    openssl = shutil.which("openssl")
    if openssl is None:
        print("# openssl not found: no baseline for sm2_sign/sm2_verify", file=sys.stderr)
        return None
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [openssl, "speed", "-seconds", str(int(SECONDS)), "sm2"], capture_output=True, text=True, check=False
    )
    # " 256 bits SM2 (CurveSM2)   0.0003s   0.0003s   3679.3   3855.1"
    found = re.search(r"SM2 \(CurveSM2\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", result.stdout)
    if found is None:
        print(f"# openssl speed sm2 printed no SM2 line (exit {result.returncode}): no baseline", file=sys.stderr)
        return None
    return float(found.group(1)), float(found.group(2))


def _report(name: str, value: float, baseline: float | None) -> None:
    if baseline is None:
        print(f"BENCH {name} {value:.1f} ops/s baseline=n/a ratio=n/a", flush=True)
    else:
        report(name, value, "ops/s", baseline)


def main() -> None:
    key = sm2.generate()
    public = key.public_key()
    signature = key.sign(MESSAGE)
    assert public.verify(signature, MESSAGE)

    speed = _openssl_speed()
    sign = _ops_per_second(lambda: key.sign(MESSAGE))
    verify = _ops_per_second(lambda: public.verify(signature, MESSAGE))
    keygen = _ops_per_second(sm2.generate)
    p256_keygen = _ops_per_second(lambda: ec.generate_private_key(ec.SECP256R1()))

    _report("sm2_sign", sign, speed[0] if speed else None)
    _report("sm2_verify", verify, speed[1] if speed else None)
    _report("sm2_keygen", keygen, p256_keygen)


if __name__ == "__main__":
    main()
