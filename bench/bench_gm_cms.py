"""Bid files under the SM2 profile (GB/T 35275), 2 GiB by default: sealing (SM3 for the signature + SM4 for the
envelope, one read of the plaintext, the content key sent to an SM2 recipient) and opening (SM2 unwrap, SM4
decryption to a file kept only after the content authenticated — the SM3 the signature states for SM4-CBC, the tag
for SM4-GCM), in MB/s and peak memory, beside the raw SM4-CBC, SM4-GCM and SM3 rates of ``cryptography`` over the
same number of bytes in 4 MiB chunks, and the storage's write rate, measured in the same run.

``BENCH_GM_CMS_BYTES`` sets the size (e.g. 268435456 for a quick run). Each measured operation runs in its own child
process so its peak resident memory is its own. The plaintext is generated as it is read (never on disk); the
ciphertext and the opened file go to a temporary folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import ROOT, Pattern, report

SIZE = int(os.environ.get("BENCH_GM_CMS_BYTES", str(2 * 1024**3)))
CHUNK = 4 * 1024 * 1024
LABEL = f"{SIZE // 1024**3}gib" if SIZE % 1024**3 == 0 else f"{SIZE // 1024**2}mib"


def child(operation: str, mode: str, folder: Path) -> dict[str, float]:
    """Run one operation; print its rate and peak RSS (MiB) as JSON."""
    import resource

    from mobileca.ca import gm as ca_gm
    from mobileca.ca import sm2
    from mobileca.cmslib import gm
    from mobileca.core.clock import now

    if operation == "seal":
        key = sm2.generate()
        (folder / "key.der").write_bytes(key.der)
        # the recipient: a self-signed SM2 certificate of the key (SM3withSM2, ID 1234567812345678)
        certificate = ca_gm.root_certificate(
            signer=key.sign, public_key_der=key.public_key().der, name=ca_gm.ca_name("bench", "bench"), now=now()
        )
        (folder / "cert.der").write_bytes(certificate)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        with (folder / "bid.bin").open("wb") as sink:
            sealed = gm.seal(Pattern(SIZE), sink, certificate, mode=mode)
        elapsed = time.perf_counter() - started
        (folder / "bid.p7m").write_bytes(sealed.header)
        (folder / "bid.sm3").write_bytes(sealed.plaintext_sm3)
    else:
        key = sm2.load_private((folder / "key.der").read_bytes())
        certificate = (folder / "cert.der").read_bytes()
        header = (folder / "bid.p7m").read_bytes()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        with (folder / "bid.bin").open("rb") as source:
            gm.open_to_file(
                header,
                source,
                folder / "bid.out",
                recipient=certificate,
                unwrap=key.decrypt,
                expected_sm3=(folder / "bid.sm3").read_bytes(),
            )
        elapsed = time.perf_counter() - started
        (folder / "bid.out").unlink()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"mbps": SIZE / elapsed / 1e6, "peak_mib": peak / 1024, "before_mib": before / 1024}


def raw_write(folder: Path) -> float:
    """Writing the same number of bytes to a file in the same folder: the storage's share of the same work."""
    block = bytes(CHUNK)
    started = time.perf_counter()
    with (folder / "raw.bin").open("wb") as sink:
        for _ in range(max(1, SIZE // CHUNK)):
            sink.write(block)
    rate = max(1, SIZE // CHUNK) * CHUNK / (time.perf_counter() - started) / 1e6
    (folder / "raw.bin").unlink()
    return rate


def raw_rates() -> dict[str, float]:
    """cryptography's SM4-CBC, SM4-GCM and SM3 over the same number of bytes, in 4 MiB chunks, in this process."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    block = bytes(CHUNK)
    rounds = max(1, SIZE // CHUNK)
    out = bytearray(CHUNK + 15)
    rates = {}
    for name, mode in (("cbc", modes.CBC(os.urandom(16))), ("gcm", modes.GCM(os.urandom(12)))):
        encryptor = Cipher(algorithms.SM4(os.urandom(16)), mode).encryptor()
        started = time.perf_counter()
        for _ in range(rounds):
            encryptor.update_into(block, out)
        rates[name] = rounds * CHUNK / (time.perf_counter() - started) / 1e6
    digest = hashes.Hash(hashes.SM3())
    started = time.perf_counter()
    for _ in range(rounds):
        digest.update(block)
    rates["sm3"] = rounds * CHUNK / (time.perf_counter() - started) / 1e6
    return rates


def main() -> None:
    if len(sys.argv) == 4:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(child(sys.argv[1], sys.argv[2], Path(sys.argv[3]))))
        return
    folder = Path(tempfile.mkdtemp(prefix="mobileca-bench-gm-"))
    results: dict[tuple[str, str], dict[str, float]] = {}
    try:
        os.sync()  # each measurement starts with no dirty pages left by the one before
        write = raw_write(folder)
        for mode in ("cbc", "gcm"):
            for operation in ("seal", "open"):
                os.sync()
                done = subprocess.run(  # noqa: S603
                    [sys.executable, __file__, operation, mode, str(folder)],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                results[operation, mode] = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    raw = raw_rates()
    for mode in ("cbc", "gcm"):
        # every byte goes through SM4 and SM3 and to a file: the raw floor is the slowest of the three
        floor = min(raw[mode], raw["sm3"], write)
        for operation in ("seal", "open"):
            measured = results[operation, mode]
            report(f"gm_bid_{operation}_sm4{mode}_{LABEL}", measured["mbps"], "MB/s", floor)
        for operation in ("seal", "open"):
            measured = results[operation, mode]
            report(
                f"gm_bid_{operation}_sm4{mode}_{LABEL}_peak_memory",
                measured["peak_mib"],
                "MiB",
                measured["before_mib"],
            )
    report("raw_sm4cbc", raw["cbc"], "MB/s", raw["cbc"])
    report("raw_sm4gcm", raw["gcm"], "MB/s", raw["gcm"])
    report("raw_sm3", raw["sm3"], "MB/s", raw["sm3"])
    report(f"raw_file_write_{LABEL}", write, "MB/s", write)


if __name__ == "__main__":
    main()
