"""The foundation's input readers and limits (issue 14): digits, amounts, bounded JSON, the boundary middleware and
the rate-limit counters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from mobileca.core import inputs, limits
from mobileca.core.clock import clock
from mobileca.core.errors import TooMany
from mobileca.core.models import RateCount


@pytest.mark.parametrize(("raw", "read"), [("123456", "123456"), ("１２３４５６", "123456"), (" 654321 ", "654321")])
def test_digits_read_ascii_and_full_width(raw: str, read: str) -> None:
    assert inputs.digits(raw, length=6) == read


@pytest.mark.parametrize("raw", ["١٢٣٤٥٦", "12345²", "12 3456", "", "12345", "abcdef", None, 123456])
def test_digits_refuse_every_other_form(raw: object) -> None:
    with pytest.raises(inputs.BadInput):
        inputs.digits(raw, length=6)


@pytest.mark.parametrize(
    "raw", ["３００.００", "3e2", "+300.00", " 300.00", "0300.00", "300.001", "-1", "1e9999999", "NaN"]
)
def test_a_strict_amount_is_exactly_digits_and_two_decimals(raw: str) -> None:
    with pytest.raises(inputs.BadInput):
        inputs.amount(raw)


def test_a_typed_amount_may_be_full_width_but_not_huge() -> None:
    assert inputs.amount(" ３００．００ ", lenient=True) == Decimal("300.00")
    with pytest.raises(inputs.BadInput):
        inputs.amount("1" * 30, lenient=True)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"size": 1e400}',
        b'{"size": Infinity}',
        b'{"size": NaN}',
        b'{"size": 1000000000000000000000000000000}',
        b'{"size": 9223372036854775808}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"name": "a\\u0000b"}',
        b'["\\u0000"]',
        b"\xff\xfe",
    ],
    ids=["1e400", "Infinity", "NaN", "10^30", "2^63", "100k deep", "NUL in member", "NUL in array", "not UTF-8"],
)
def test_bounded_json_refuses_what_would_overflow_recurse_or_not_store(raw: bytes) -> None:
    with pytest.raises(inputs.BadInput):
        inputs.load_json(raw)


def test_bounded_json_reads_brackets_inside_strings_as_text() -> None:
    assert inputs.load_json(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}')["a"].startswith("[[")


@pytest.mark.django_db
def test_a_nul_in_a_query_or_form_is_refused_before_any_view_with_a_code() -> None:
    client = Client()
    answer = client.get("/accounts/login/", {"next": "/\x00"})
    assert answer.status_code == 400 and "nul_character" in answer.content.decode()
    answer = client.post("/accounts/login/", {"username": "a\x00", "password": "x"})
    assert answer.status_code == 400


@pytest.mark.django_db
def test_json_nested_too_deep_is_refused_with_a_code_not_a_recursion_error() -> None:
    answer = Client().post(
        "/accounts/login/", b"[" * 100_000, content_type="application/json", headers={"Accept": "application/json"}
    )
    assert answer.status_code == 400
    assert json.loads(answer.content)["code"] == "json_too_deep"


@pytest.mark.django_db
def test_an_api_with_its_own_error_shape_gets_the_boundary_refusals_in_it() -> None:
    """The tool's bid API answers ``error``/``error_description``; so do the boundary's refusals on it."""
    answer = Client().post("/bidding/api/tenders/X/bids", b"[" * 100_000, content_type="application/json")
    assert answer.status_code == 400
    assert json.loads(answer.content)["error"] == "json_too_deep"


@pytest.mark.django_db
def test_a_body_past_the_limit_is_413_with_a_code(settings) -> None:
    answer = Client().post("/accounts/login/", {"username": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)})
    assert answer.status_code == 413 and "too_large" in answer.content.decode()


@pytest.mark.django_db
def test_too_many_fields_is_a_clear_400() -> None:
    answer = Client().post("/accounts/login/", {f"f{i}": "1" for i in range(1200)})
    assert answer.status_code == 400 and "too_many_fields" in answer.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_limit_counts_per_actor_and_refuses_past_the_rate_until_the_window_ends() -> None:
    with clock.frozen(datetime(2026, 12, 3, 8, 0, 30, tzinfo=UTC)):
        assert [limits.hit("probe", "1.2.3.4", "3/m") for _ in range(3)] == [1, 2, 3]
        with pytest.raises(TooMany) as refused:
            limits.hit("probe", "1.2.3.4", "3/m")
        assert refused.value.status == 429 and 1 <= refused.value.retry_after <= 30
        assert limits.hit("probe", "5.6.7.8", "3/m") == 1  # another actor has its own count
        clock.advance(timedelta(seconds=31))
        assert limits.hit("probe", "1.2.3.4", "3/m") == 1  # a new window
    assert RateCount.objects.count() == 3
    assert not RateCount.objects.filter(digest__contains="1.2.3.4").exists()  # only digests are stored


@pytest.mark.django_db
def test_a_setting_overrides_a_limit_by_scope(settings) -> None:
    settings.MOBILECA_RATE_LIMITS = {"probe": "1/h"}
    limits.hit("probe", "x", "100/m")
    with pytest.raises(TooMany):
        limits.hit("probe", "x", "100/m")


def test_a_malformed_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="not a rate"):
        limits.Rate.parse("5 per minute")
