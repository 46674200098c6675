"""Time-stamp token serial numbers are unique under concurrent requests (issue 17, RFC 3161 §2.4.2): eight threads,
each with its own PostgreSQL connection, ask the TSA at the same instant; every token has its own serial and its own
value of the sequence, and every one verifies."""

from __future__ import annotations

import hashlib

import pytest
from asn1crypto import cms, tsp

from mobileca.ca import tsa
from mobileca.ca.backends.factory import backend
from tests.races import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
THREADS, EACH = 8, 25


def _serial(response: bytes) -> int:
    token = tsa._TimeStampResp.load(response)["time_stamp_token"]
    info = token["content"]["encap_content_info"]["content"].parsed
    assert isinstance(info, tsp.TSTInfo)
    return int(info["serial_number"].native)


def test_concurrent_requests_get_unique_serials_from_the_sequence(ca) -> None:
    tsa.tsa_ensure(key_backend=backend())
    digest = hashlib.sha256(b"same document, many clients").digest()
    request = tsp.TimeStampReq(
        {"version": "v1", "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": digest}}
    ).dump()

    def burst() -> list[bytes]:
        return [tsa.respond(request) for _ in range(EACH)]

    results = race(burst, threads=THREADS)
    assert all(isinstance(result, list) for result in results), results
    responses = [response for result in results for response in result]  # type: ignore[union-attr]
    assert len(responses) == THREADS * EACH
    serials = [_serial(response) for response in responses]
    assert len(set(serials)) == THREADS * EACH
    sequences = sorted(serial >> 64 for serial in serials)
    assert sequences == list(range(sequences[0], sequences[0] + THREADS * EACH))  # no value twice, none skipped
    for response in responses[:: THREADS * EACH // 10]:
        token = cms.ContentInfo.load(tsa._TimeStampResp.load(response)["time_stamp_token"].dump())
        assert tsa.token_verify(token.dump(), digest=digest).hashed_message == digest
