"""The remote-signing API's own boundary and limits (issue 14): oversized bodies, NUL, deep JSON and huge numbers are
refused in the API's error shape with a clear description and nothing stored; anonymous device logins, token polling
and user-code guessing on the phone are rate-limited (429, Retry-After); the documentation only when published."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from mobileca.shield import callers
from mobileca.shield.models import AccessToken, DeviceGrant, KeyUseAuthorization
from tests.support.shield import LEGAL_REP, phone_login

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _post(path: str, body: bytes | str, **headers: Any) -> tuple[int, dict[str, Any], Any]:
    answer = Client().post(f"/csc/v2/{path}", body, content_type="application/json", **headers)
    return answer.status_code, answer.json(), answer


def _rows() -> tuple[int, int, int]:
    return DeviceGrant.objects.count(), AccessToken.objects.count(), KeyUseAuthorization.objects.count()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["oauth2/device", "oauth2/token", "credentials/authorize", "signatures/signHash"])
def test_a_body_past_the_limit_is_413_in_the_apis_shape(path: str, settings: Any) -> None:
    """Issue 14: any /csc/v2/ POST over ~2.5 MB answered 500 (RequestDataTooBig), anonymous ones included."""
    body = json.dumps({"client_name": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)})
    status, answer, _ = _post(path, body, HTTP_AUTHORIZATION="Bearer mcu_whatever")
    assert status == 413 and answer["error"] == "invalid_request"
    assert "larger than" in answer["error_description"] and _rows() == (0, 0, 0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"client_name": "a\\u0000b"}', "NUL"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 32"),
        (b'{"client_name": "x", "n": 1e400}', "number out of range"),
        (b'{"client_name": "x", "n": 9223372036854775808}', "number out of range"),
        (b'{"client_name": "x", "n": 1000000000000000000000000000000}', "number out of range"),
        (b'{"client_name": NaN}', "not a number JSON allows"),
        (b'{"client_name": Infinity}', "not a number JSON allows"),
        (b'{"client_name": ', "not JSON"),
        (b"\xff\xfe", "not JSON"),
    ],
    ids=["NUL", "100k deep", "1e400", "2^63", "10^30", "NaN", "Infinity", "truncated", "not UTF-8"],
)
def test_bodies_no_reader_accepts_are_refused_in_the_apis_shape(body: bytes, says: str) -> None:
    for path in ("oauth2/device", "credentials/authorize"):
        status, answer, _ = _post(path, body)
        assert status == 400 and answer["error"] == "invalid_request", answer
        assert says in answer["error_description"]
    assert _rows() == (0, 0, 0)


@pytest.mark.django_db
def test_a_nul_in_the_address_and_a_body_that_is_not_an_object_are_refused_in_the_apis_shape() -> None:
    answer = Client().get("/csc/v2/info", {"x": "a\x00"})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    status, refused, _ = _post("oauth2/device", b"[1, 2]")
    assert status == 400 and "JSON object" in refused["error_description"] and _rows() == (0, 0, 0)


@pytest.mark.django_db
def test_anonymous_device_logins_are_limited_per_address_with_no_row_past_it(settings: Any) -> None:
    """Issue 14: each anonymous oauth2/device call created a row, without end."""
    settings.MOBILECA_RATE_LIMITS = {"oauth2_device": "3/h"}
    for _ in range(3):
        assert _post("oauth2/device", "{}")[0] == 200
    status, answer, response = _post("oauth2/device", "{}")
    assert status == 429 and answer["error"] == "rate_limited" and answer["error_description"]
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert DeviceGrant.objects.count() == 3
    other = Client(REMOTE_ADDR="10.0.0.9").post("/csc/v2/oauth2/device", "{}", content_type="application/json")
    assert other.status_code == 200 and DeviceGrant.objects.count() == 4  # another address has its own count


@pytest.mark.django_db
def test_token_polling_is_limited_per_address(settings: Any) -> None:
    settings.MOBILECA_RATE_LIMITS = {"oauth2_token": "2/m"}
    start = callers.device_start(client_name="tool")
    grant = json.dumps({"grant_type": DEVICE_GRANT, "device_code": start.device_code})
    assert [_post("oauth2/token", grant)[0] for _ in range(2)] == [400, 400]  # authorization_pending, slow_down
    polled = DeviceGrant.objects.get().last_polled_at
    status, answer, response = _post("oauth2/token", grant)
    assert (status, answer["error"]) == (429, "rate_limited") and int(response["Retry-After"]) >= 1
    assert DeviceGrant.objects.get().last_polled_at == polled and not AccessToken.objects.exists()


@pytest.fixture
def phone(db: None) -> Client:
    return phone_login(LEGAL_REP, "/h5/credentials/")


def test_user_code_guessing_on_the_phone_is_limited_per_account_and_counts_wrong_codes(
    phone: Client, settings: Any
) -> None:
    """Issue 14: device user-code guessing was unbounded; a wrong code counts even though it is refused."""
    settings.MOBILECA_RATE_LIMITS = {"device_user_code_account": "3/10m"}
    grant = callers.device_start(client_name="tool")
    for guess in ("BCDF-GHJK", "BCDF-GHJL", "BCDF-GHJM"):
        assert phone.get("/h5/device/", {"user_code": guess}).status_code == 404
    refused = phone.post("/h5/device/", {"user_code": grant.user_code, "decision": "allow"})
    assert refused.status_code == 429 and "登录码尝试次数过多" in refused.content.decode()
    assert int(refused["Retry-After"]) >= 1
    assert DeviceGrant.objects.get().status == "pending" and not DeviceGrant.objects.get().account


def test_user_code_guessing_on_the_phone_is_limited_per_address(phone: Client, settings: Any) -> None:
    settings.MOBILECA_RATE_LIMITS = {"device_user_code_address": "2/10m"}
    grant = callers.device_start(client_name="tool")
    assert phone.get("/h5/device/", {"user_code": "BCDF-GHJK"}).status_code == 404
    other_person = phone_login("2088102000000002", "/h5/credentials/")  # the same address
    assert other_person.get("/h5/device/", {"user_code": "BCDF-GHJL"}).status_code == 404
    refused = other_person.post("/h5/device/", {"user_code": grant.user_code, "decision": "allow"})
    assert refused.status_code == 429 and DeviceGrant.objects.get().status == "pending"


@pytest.mark.django_db
def test_the_documentation_is_served_only_when_published(settings: Any) -> None:
    settings.MOBILECA_API_DOCS = True
    schema = Client().get("/csc/v2/openapi.json")
    assert schema.status_code == 200 and "/csc/v2/signatures/signHash" in schema.json()["paths"]
    assert Client().get("/csc/v2/docs").status_code == 200
    settings.MOBILECA_API_DOCS = False
    for path in ("/csc/v2/openapi.json", "/csc/v2/docs"):
        hidden = Client().get(path)
        assert hidden.status_code == 404 and hidden.json()["error"] == "not_found"
    assert Client().post("/csc/v2/info", "{}", content_type="application/json").status_code == 200  # the API is not


@pytest.mark.django_db
def test_the_boundary_keeps_the_api_free_of_csrf_as_a_bearer_api() -> None:
    """The routes wrapped for the boundary are still CSRF-exempt: a program sends no CSRF token."""
    answer = Client(enforce_csrf_checks=True).post("/csc/v2/oauth2/device", "{}", content_type="application/json")
    assert answer.status_code == 200 and DeviceGrant.objects.count() == 1


@pytest.mark.django_db
def test_a_form_in_another_charset_than_utf8_is_refused_in_the_apis_shape() -> None:
    """Django reads form bodies only as UTF-8 (a BadRequest otherwise, which answered 500 here)."""
    body = "client_name=中文工具".encode("gbk")
    for path in ("oauth2/device", "oauth2/token"):
        answer = Client().generic(
            "POST", f"/csc/v2/{path}", body, content_type="application/x-www-form-urlencoded; charset=gbk"
        )
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_request", answer.content
        assert "UTF-8" in answer.json()["error_description"]
    assert _rows() == (0, 0, 0)
