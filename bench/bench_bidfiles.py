"""Bid files of 2 GiB: sealing (SHA-256 for the signature + AES-256-GCM for the envelope, one read of the plaintext)
and opening (decryption to a file kept only after the tag verified, with the SHA-256 for the signature check), in
MB/s and peak memory, beside the raw AES-256-GCM and SHA-256 throughput of this machine in the same run.

Each measured operation runs in its own child process so its peak resident memory is its own. The plaintext is
generated as it is read (never on disk); the ciphertext and the opened file go to a temporary folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import ROOT, Pattern, report

SIZE = 2 * 1024**3
CHUNK = 4 * 1024 * 1024


def child(operation: str, folder: Path) -> dict[str, float]:
    """Run one operation; print its rate and peak RSS (MiB) as JSON."""
    import resource

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from mobileca.cmslib import enveloped

    key_path = folder / "key.pem"
    if operation == "seal":
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")])
        import datetime

        from mobileca.core.clock import now

        moment = now()
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(moment).not_valid_after(moment + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )  # fmt: skip
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        with (folder / "bid.bin").open("wb") as sink:
            sealed = enveloped.seal(Pattern(SIZE), sink, cert)
        elapsed = time.perf_counter() - started
        (folder / "bid.p7m").write_bytes(sealed.header)
    else:
        from mobileca.shield.envelopes import content_key

        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        header = (folder / "bid.p7m").read_bytes()
        cek = content_key(header, private_key=key, certificate_pem=(folder / "cert.pem").read_text()).key
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        with (folder / "bid.bin").open("rb") as source:
            enveloped.open_to_file(header, cek, source, folder / "bid.out")
        elapsed = time.perf_counter() - started
        (folder / "bid.out").unlink()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"mbps": SIZE / elapsed / 1e6, "peak_mib": peak / 1024, "before_mib": before / 1024}


def raw_write(folder: Path) -> float:
    """Writing 2 GiB to a file in the same folder: the storage's share of the same work."""
    block = bytes(CHUNK)
    started = time.perf_counter()
    with (folder / "raw.bin").open("wb") as sink:
        for _ in range(SIZE // CHUNK):
            sink.write(block)
    rate = SIZE / (time.perf_counter() - started) / 1e6
    (folder / "raw.bin").unlink()
    return rate


def raw_rates() -> tuple[float, float]:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    block = bytes(CHUNK)
    rounds = SIZE // CHUNK // 4
    encryptor = Cipher(algorithms.AES256(os.urandom(32)), modes.GCM(os.urandom(12))).encryptor()
    out = bytearray(CHUNK + 15)
    started = time.perf_counter()
    for _ in range(rounds):
        encryptor.update_into(block, out)
    aes = rounds * CHUNK / (time.perf_counter() - started) / 1e6
    digest = hashlib.sha256()
    started = time.perf_counter()
    for _ in range(rounds):
        digest.update(block)
    sha = rounds * CHUNK / (time.perf_counter() - started) / 1e6
    return aes, sha


def main() -> None:
    if len(sys.argv) == 3:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(child(sys.argv[1], Path(sys.argv[2]))))
        return
    folder = Path(tempfile.mkdtemp(prefix="mobileca-bench-bid-"))
    results = {}
    try:
        os.sync()  # each measurement starts with no dirty pages left by the one before
        write = raw_write(folder)
        for operation in ("seal", "open"):
            os.sync()
            done = subprocess.run(  # noqa: S603
                [sys.executable, __file__, operation, str(folder)], check=True, capture_output=True, text=True
            )
            results[operation] = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    aes, sha = raw_rates()
    # sealing and opening put every byte through AES-256-GCM and SHA-256 and write it to a file: the raw floor is
    # the slowest of the three, measured here in the same run
    floor = min(aes, sha, write)
    report("bid_seal_2gib", results["seal"]["mbps"], "MB/s", floor)
    report("bid_open_2gib", results["open"]["mbps"], "MB/s", floor)
    report("bid_seal_2gib_peak_memory", results["seal"]["peak_mib"], "MiB", results["seal"]["before_mib"])
    report("bid_open_2gib_peak_memory", results["open"]["peak_mib"], "MiB", results["open"]["before_mib"])
    report("raw_aes256gcm", aes, "MB/s", aes)
    report("raw_sha256", sha, "MB/s", sha)
    report("raw_file_write_2gib", write, "MB/s", write)


if __name__ == "__main__":
    main()
