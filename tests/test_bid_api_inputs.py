"""Issue 14: the tool's bid API reads its JSON to bounds (``core.inputs.load_json``) and every field to what makes
sense, answering a clear 400 in the API's JSON shape where it answered 500 (OverflowError, RecursionError); the
command-line tool reports such answers clearly."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from django.test import Client

from mobileca.audit.models import AuditEvent
from mobileca.bidding.models import Bid, Tender
from mobileca.bidding.services import bid_max_bytes
from mobileca.cli.main import ToolError, _answer, refusal
from mobileca.shield.callers import device_decide, device_start, device_token
from tests.support.bidding import tender_open_for_bids

ACCOUNT = "2088102000000001"


@pytest.fixture
def token(db: None) -> str:
    """A tool's bearer token, issued by the device grant as `mobileca login` gets it (the phone's consent made
    through the service)."""
    start = device_start(client_name="测试工具")
    device_decide(user_code=start.user_code, account=ACCOUNT, allow=True)
    issued, _ = device_token(device_code=start.device_code)
    return issued


@pytest.fixture
def tender(db: None) -> Tender:
    return tender_open_for_bids()


def _announce(token: str, tender: Tender, body: bytes | str, content_type: str = "application/json") -> Any:
    return Client().post(
        f"/bidding/api/tenders/{tender.url_key}/bids",
        body,
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def _body(size: str) -> str:
    header = base64.b64encode(b"\x30\x03\x02\x01\x00").decode()
    return (
        f'{{"credentialID": "S1", "fileName": "bid.pdf", "size": {size}, "header": "{header}", '
        f'"signature": "{header}"}}'
    )


def _stored() -> tuple[int, int]:
    return Bid.objects.count(), AuditEvent.objects.count()


@pytest.mark.parametrize(
    "size",
    ["1e400", "-1e400", "Infinity", "-Infinity", "NaN", str(10**30), str(2**63), str(2**64), str(2**53 + 1),
     "1" * 5000, "-1", "0", "1.5", "1e3", '"12"', "true", "null", "[1]", "{}"],
)  # fmt: skip
def test_a_size_out_of_bounds_is_a_clear_400_in_the_apis_shape(token: str, tender: Tender, size: str) -> None:
    """Issue 14: ``"size": 1e400``, ``Infinity``, 10^30 or 2^63 answered 500 (OverflowError)."""
    before = _stored()
    answer = _announce(token, tender, _body(size))
    assert answer.status_code == 400, answer.content
    refused = answer.json()
    assert refused["error"] in {"invalid_request", "bad_size"} and refused["error_description"]
    assert _stored() == before


def test_a_size_past_the_platforms_largest_bid_is_refused(token: str, tender: Tender, settings: Any) -> None:
    settings.MOBILECA_BID_MAX_BYTES = 1000
    assert bid_max_bytes() == 1000
    answer = _announce(token, tender, _body("1001"))
    assert answer.status_code == 400 and answer.json()["error"] == "bad_size"
    assert "1000" in answer.json()["error_description"]
    # one byte less reaches the next checks (the credential is not the caller's): still no 500, nothing stored
    answer = _announce(token, tender, _body("1000"))
    assert answer.status_code == 404 and answer.json()["error"] == "credential_unknown"
    assert not Bid.objects.exists()


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_json_nested_100000_deep_is_a_400_not_a_recursion_error(token: str, tender: Tender, content_type: str) -> None:
    """Issue 14: a body nested 100,000 deep answered 500 (RecursionError). Declared as JSON, the boundary refuses it
    before the view; declared as anything else, the view's own reading does."""
    before = _stored()
    for body in ("[" * 100_000, '{"size":' * 100_000, "[" * 100_000 + "]" * 100_000):
        answer = _announce(token, tender, body, content_type)
        assert answer.status_code == 400
        refused = answer.json()
        assert refused["error"] in ("invalid_request", "json_too_deep")  # the view's reading, or the boundary's
    assert _stored() == before


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        '"x"',
        "1",
        "",
        "not json",
        b"\xff\xfe",
        '{"credentialID": 12, "fileName": "bid.pdf", "size": 3, "header": "MA==", "signature": "MA=="}',
        '{"credentialID": "S1", "fileName": "", "size": 3, "header": "MA==", "signature": "MA=="}',
        '{"credentialID": "S1", "fileName": "' + "x" * 201 + '", "size": 3, "header": "MA==", "signature": "MA=="}',
        '{"credentialID": "' + "S" * 41 + '", "fileName": "b", "size": 3, "header": "MA==", "signature": "MA=="}',
        '{"credentialID": "S1", "fileName": "b\\u0000", "size": 3, "header": "MA==", "signature": "MA=="}',
        '{"credentialID": "S1", "fileName": "b", "size": 3, "header": "not base64!", "signature": "MA=="}',
        '{"credentialID": "S1", "fileName": "b", "size": 3, "header": ["MA=="], "signature": "MA=="}',
        '{"credentialID": "S1", "fileName": "b", "size": 3, "header": "MA==", "signature": "' + "A" * 400_000 + '"}',
    ],
)
def test_malformed_announcements_are_clear_400s(token: str, tender: Tender, body: str | bytes) -> None:
    before = _stored()
    for content_type in ("application/json", "text/plain"):
        answer = _announce(token, tender, body, content_type)
        assert answer.status_code == 400, answer.content
        refused = answer.json()
        assert refused.get("error_description") or refused.get("message")
    assert _stored() == before


def test_a_body_past_the_upload_limit_is_413(token: str, tender: Tender, settings: Any) -> None:
    before = _stored()
    huge = _body("3").replace('"bid.pdf"', '"' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + '"')
    for content_type in ("application/json", "text/plain"):
        answer = _announce(token, tender, huge, content_type)
        assert answer.status_code == 413
    assert _stored() == before


# --- the tool reads every refusal, whatever its shape ----------------------------------------------------------


@pytest.mark.parametrize(
    "response, expected",
    [
        (
            httpx.Response(400, json={"error": "bad_size", "error_description": "文件大小无效"}),
            "文件大小无效 (bad_size)",
        ),
        (
            httpx.Response(400, json={"code": "json_too_deep", "message": "提交的内容层级过深"}),
            "提交的内容层级过深 (json_too_deep)",
        ),
        (httpx.Response(413, text="<html>Request Entity Too Large</html>"), "HTTP 413 Request Entity Too Large"),
        (httpx.Response(500, text="Server Error"), "HTTP 500 Internal Server Error"),
        (httpx.Response(400, json=["not", "an", "object"]), "HTTP 400 Bad Request"),
    ],
)
def test_the_tool_reports_each_shape_of_refusal_clearly(response: httpx.Response, expected: str) -> None:
    assert refusal(response) == expected


def test_the_tool_refuses_an_answer_that_is_not_an_object() -> None:
    with pytest.raises(ToolError):
        _answer(httpx.Response(200, text="<html>"))
    assert _answer(httpx.Response(200, content=json.dumps({"a": 1}).encode())) == {"a": 1}
