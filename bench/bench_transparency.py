"""The transparency log's read side (issue 15).

* ``audit_inclusion_verify``: inclusion proofs verified per second by the command-line tool's code
  (``mobileca.audit.merkle.verify_inclusion``, RFC 9162 §2.1.3.2) over proofs of random leaves of a tree of
  100,000 leaves built in memory, against raw ``hashlib`` SHA-256 of as many 65-byte node inputs as the proofs
  have hashes (the floor: a verifier cannot hash less), expressed as proofs per second.
* ``audit_proofs_served_http``: inclusion proofs served per second by ``/transparency/v1/proof-by-index``
  (gunicorn with two workers on loopback, four keep-alive clients) from a log of 20,000 sequenced events, against
  the same proofs assembled in this process from the database without HTTP (``proofs.inclusion_proof``).
  PostgreSQL when ``BENCH_DATABASE_URL`` names a database this may drop and create; SQLite otherwise.
"""

from __future__ import annotations

import hashlib
import random
import sys
import threading

from _harness import ROOT, django_setup, rate, report, serve, stop

TREE_LEAVES = 100_000
VERIFY_N = 20_000
LOG_EVENTS = 20_000
SERVE_CLIENTS = 4
SERVE_PER_CLIENT = 250


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every perfect node of the tree, level by level (level 0: the leaves)."""
    from mobileca.audit import merkle

    levels = [leaves]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([merkle.node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    return levels


def verify_bench() -> None:
    from mobileca.audit import merkle

    chooser = random.Random(15)  # a fixed sample, the same every run
    leaves = [merkle.leaf_hash(chooser.randbytes(200)) for _ in range(TREE_LEAVES)]
    levels = _levels(leaves)

    def lookup(nodes: object) -> dict[tuple[int, int], bytes]:
        return {(level, index): levels[level][index] for level, index in nodes}  # type: ignore[attr-defined]

    root = merkle.fold([levels[level][index] for level, index in merkle.root_nodes(TREE_LEAVES)])
    indexes = [chooser.randrange(TREE_LEAVES) for _ in range(VERIFY_N)]
    cases = [(leaves[i], i, merkle.inclusion_proof(i, TREE_LEAVES, lookup)) for i in indexes]

    def verify() -> None:
        for leaf, index, proof in cases:
            if not merkle.verify_inclusion(leaf, index, TREE_LEAVES, proof, root):
                raise AssertionError(f"proof of leaf {index} failed")

    inputs = [b"\x01" + leaf + proof[0] for leaf, _, proof in cases]  # 65 bytes, as a node hash reads
    hashes_per_proof = [len(proof) for _, _, proof in cases]

    def raw() -> None:
        sha256 = hashlib.sha256
        for data, count in zip(inputs, hashes_per_proof, strict=True):
            for _ in range(count):
                sha256(data).digest()

    report("audit_inclusion_verify", rate(VERIFY_N, verify), "proofs/s", rate(VERIFY_N, raw))


def serve_bench() -> None:
    django_setup("BENCH_DATABASE_URL")
    import httpx
    from django.db import transaction

    from mobileca.audit import proofs
    from mobileca.audit.sequencer import audit_sequence
    from mobileca.audit.services import Actor, AuditEntry, audit_record_many

    actor = Actor("system", "bench")
    for start in range(0, LOG_EVENTS, 2000):
        with transaction.atomic():
            audit_record_many(
                [AuditEntry("bench.event", f"bench:{n}", actor, data={"n": n}) for n in range(start, start + 2000)]
            )
    audit_sequence()
    head = proofs.latest_tree_head()
    assert head is not None and head.tree_size == LOG_EVENTS, head
    chooser = random.Random(15)  # a fixed sample, the same every run
    indexes = [chooser.randrange(LOG_EVENTS) for _ in range(SERVE_CLIENTS * SERVE_PER_CLIENT)]

    def in_process() -> None:
        for index in indexes:
            proofs.inclusion_proof(index, LOG_EVENTS)

    baseline = rate(len(indexes), in_process)
    server, root = serve(workers=2)
    base = f"{root}/transparency/v1"
    try:
        failures: list[str] = []

        def client(slot: int) -> None:
            with httpx.Client(timeout=10) as http:
                for index in indexes[slot * SERVE_PER_CLIENT : (slot + 1) * SERVE_PER_CLIENT]:
                    answer = http.get(f"{base}/proof-by-index", params={"leaf_index": index, "tree_size": LOG_EVENTS})
                    if answer.status_code != 200:
                        failures.append(answer.text)

        def ask() -> None:
            threads = [threading.Thread(target=client, args=(slot,)) for slot in range(SERVE_CLIENTS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if failures:
                raise AssertionError(f"{len(failures)} proofs refused, e.g. {failures[0]}")

        ask()  # warm both workers
        served = rate(len(indexes), ask)
    finally:
        stop(server)
    report("audit_proofs_served_http", served, "proofs/s", baseline)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    verify_bench()
    serve_bench()


if __name__ == "__main__":
    main()
