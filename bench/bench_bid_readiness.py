"""The readiness check before the opening (「开标前解密检查」, issue 21) over stored bid files: how fast the job
worker's ``readiness_checks_due`` checks BIDS sealed bids of FILE_BYTES each (the key's readiness asked of the
signing service, the stored ciphertext's size and SHA-256 read in full, the check kept), in MB/s of ciphertext,
beside the raw rate of reading and hashing the same files with hashlib in the same run.

On PostgreSQL (``BENCH_DATABASE_URL``) also: the longest wait to lock a bid's row (as the opening does) while a check
of that bid reads its file, beside the same lock taken when no check runs — the check reads before it locks, so the
two should be close.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import threading
import time
from datetime import timedelta
from pathlib import Path

from _harness import Pattern, bench_credential, django_setup, keyfile_ca, report

BIDS = int(os.environ.get("BENCH_READINESS_BIDS", "16"))
FILE_BYTES = int(os.environ.get("BENCH_READINESS_FILE_BYTES", str(128 * 1024 * 1024)))  # 16 × 128 MiB = 2 GiB
CHUNK = 4 * 1024 * 1024
MB = 1_000_000


def _write(path: Path, size: int) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    digest, source = hashlib.sha256(), Pattern(size)
    with path.open("wb") as sink:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            sink.write(chunk)
    return size, digest.hexdigest()


def _raw_hash(paths: list[Path]) -> float:
    """MB/s of reading and hashing ``paths`` with hashlib alone (the floor of the same work)."""
    started, total = time.perf_counter(), 0
    for path in paths:
        digest = hashlib.sha256()
        with path.open("rb") as source:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                total += len(chunk)
    return total / MB / (time.perf_counter() - started)


def _bids(service_no: str, media: Path) -> list[int]:
    from django.conf import settings

    from mobileca.accounts.models import Enterprise, User
    from mobileca.bidding.models import Bid, BidStatus, Tender
    from mobileca.core.clock import now
    from mobileca.core.validators import make_uscc, org_code_check_char
    from mobileca.shield.models import Credential

    settings.PRIVATE_MEDIA_ROOT = media
    credential = Credential.objects.get(service_no=service_no)
    prefix = "91360200MA000002"
    enterprise = Enterprise.objects.create(
        name="基准测试投标企业", uscc=make_uscc(prefix + org_code_check_char(prefix[8:])), legal_representative="张三"
    )
    agent = User.objects.create(username="bench-agent", is_staff=True)
    moment = now()
    made = []
    for index in range(BIDS):
        tender = Tender.objects.create(
            project_no=f"BENCH-{index:04d}",
            name="基准测试项目",
            bid_deadline=moment + timedelta(days=1),
            opening_at=moment + timedelta(days=2),
            created_by=agent,
            created_at=moment,
        )
        name = f"bids/bench-{secrets.token_hex(8)}.p7m"
        size, digest = _write(media / name, FILE_BYTES)
        bid = Bid.objects.create(
            tender=tender,
            enterprise=enterprise,
            card_cert_id="BENCH000000000000",
            service_no=service_no,
            file_name="投标文件.pdf",
            size=size,
            content_sha256="0" * 64,
            header=b"bench",
            ciphertext_name=name,
            recipient_serial=credential.encrypt_serial,
            status=BidStatus.SUBMITTED,
            channel="tool",
            created_at=moment,
            submitted_at=moment,
            ciphertext_bytes=size,
            ciphertext_sha256=digest,
        )
        made.append(bid.pk)
    return made


def _lock_waits(bid_id: int, during: threading.Thread | None) -> float:
    """The longest wait (ms) to lock the bid's row, taken again and again while ``during`` runs (or 40 times)."""
    from django.db import connection, transaction

    from mobileca.bidding.models import Bid

    longest, count = 0.0, 0
    if during is not None:
        during.start()
    while (during is not None and during.is_alive()) or (during is None and count < 40):
        started = time.perf_counter()
        with transaction.atomic():
            Bid.objects.select_for_update().get(pk=bid_id)
        longest = max(longest, (time.perf_counter() - started) * 1000)
        count += 1
        time.sleep(0.005)
    if during is not None:
        during.join()
    connection.close()
    return longest


def main() -> None:
    var_dir = django_setup("BENCH_DATABASE_URL")
    keyfile_ca(var_dir)
    service_no, _token, _key = bench_credential("ec-p256", "135790")
    from django.db import connection

    from mobileca.bidding import readiness
    from mobileca.bidding.models import Bid, ReadinessCheck

    media = var_dir / "private"
    ids = _bids(service_no, media)
    paths = [media / name for name in Bid.objects.filter(pk__in=ids).values_list("ciphertext_name", flat=True)]
    total_mb = BIDS * FILE_BYTES / MB
    raw = _raw_hash(paths)  # also leaves the files in the page cache for both, as the same run's second read
    raw = max(raw, _raw_hash(paths))
    started = time.perf_counter()
    ran = readiness.readiness_checks_due()
    elapsed = time.perf_counter() - started
    assert ran == BIDS and ReadinessCheck.objects.filter(outcome="ok").count() == BIDS, ran
    size_label = f"{BIDS}x{FILE_BYTES // (1024 * 1024)}mib"
    report(f"bid_readiness_checks_{size_label}", total_mb / elapsed, "MB/s", raw)

    if connection.vendor == "postgresql":
        bid_id = ids[0]
        idle = _lock_waits(bid_id, None)

        def check() -> None:
            readiness.bid_readiness_check(bid_id=bid_id, lead="1d")
            connection.close()

        busy = _lock_waits(bid_id, threading.Thread(target=check))
        report("bid_row_lock_wait_during_a_readiness_check_postgresql", busy, "ms", max(idle, 0.1))
    shutil.rmtree(media, ignore_errors=True)  # gigabytes of bench files


if __name__ == "__main__":
    main()
