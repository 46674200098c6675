"""CSC ``signatures/timestamp`` (CSC API v2.0.0.2 §11.13, issue 17): the same time-stamping authority as ``/tsa``,
behind the API's bearer authentication; its tokens pass ``openssl ts -verify`` and refusals are the §11.13
``invalid_request`` descriptions."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from django.test import Client

from mobileca.ca.backends.factory import backend
from mobileca.ca.models import Authority, AuthorityRole, TimeStampUnit
from mobileca.ca.services import certificate_of
from mobileca.ca.tsa import tsa_ensure
from tests.support.ca import openssl, pem, write
from tests.support.oauth import platform_bearer

URL = "/csc/v2/signatures/timestamp"
SHA256, SHA384 = "2.16.840.1.101.3.4.2.1", "2.16.840.1.101.3.4.2.2"


def _post(body: Any, token: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    response = Client().post(URL, data=json.dumps(body), content_type="application/json", **headers)
    return response.status_code, json.loads(response.content)


@pytest.fixture
def bearer(ca) -> str:
    tsa_ensure(key_backend=backend())
    return platform_bearer("景德镇市国有企业阳光采购平台")


def test_a_platform_gets_a_token_openssl_verifies_with_its_nonce(ca, bearer: str, tmp_path: Path) -> None:
    data = "合同 v3".encode()
    status, body = _post(
        {"hash": base64.b64encode(hashlib.sha384(data).digest()).decode(), "hashAlgo": SHA384, "nonce": "0aBc12"},
        bearer,
    )
    assert status == 200, body
    token = base64.b64decode(body["timestamp"])
    info = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"].parsed
    assert info["nonce"].native == 0x0ABC12
    root = certificate_of(Authority.objects.get(role=AuthorityRole.ROOT))
    issuing = certificate_of(Authority.objects.get(role=AuthorityRole.ISSUING))
    chain = write(tmp_path, "chain.pem", pem(root) + pem(issuing))
    verified = openssl(
        "ts", "-verify", "-data", write(tmp_path, "d", data), "-token_in", "-in", write(tmp_path, "t.tst", token),
        "-CAfile", chain,
    )  # fmt: skip
    assert verified.returncode == 0 and "Verification: OK" in verified.stdout, verified.stderr
    unit = TimeStampUnit.objects.get(is_active=True)
    assert cms.ContentInfo.load(token)["content"]["certificates"][0].dump() == bytes(unit.certificate.certificate_der)


def test_without_a_bearer_token_the_method_is_refused(ca) -> None:
    status, body = _post({"hash": base64.b64encode(b"\x00" * 32).decode(), "hashAlgo": SHA256}, None)
    assert (status, body["error"]) == (401, "invalid_token")


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({"hashAlgo": SHA256}, "Missing (or invalid type) string parameter hash"),
        ({"hash": 12, "hashAlgo": SHA256}, "Missing (or invalid type) string parameter hash"),
        ({"hash": "", "hashAlgo": SHA256}, "Empty hash parameter"),
        ({"hash": "not base64!", "hashAlgo": SHA256}, "Invalid Base64 hash string parameter"),
        ({"hash": base64.b64encode(b"\x00" * 20).decode(), "hashAlgo": SHA256}, "Invalid digest value length"),
        ({"hash": base64.b64encode(b"\x00" * 20).decode(), "hashAlgo": "1.3.14.3.2.26"}, "Invalid parameter hashAlgo"),
        ({"hash": base64.b64encode(b"\x00" * 32).decode()}, "Invalid parameter hashAlgo"),
        (
            {"hash": base64.b64encode(b"\x00" * 32).decode(), "hashAlgo": SHA256, "nonce": "xyz"},
            "Invalid parameter nonce",
        ),
        ({"hash": base64.b64encode(b"\x00" * 32).decode(), "hashAlgo": SHA256, "nonce": 5}, "Invalid parameter nonce"),
        ({"hash": base64.b64encode(b"\x00" * 32).decode(), "hashAlgo": SHA256, "nonce": ""}, "Invalid parameter nonce"),
    ],
)
def test_bad_parameters_get_the_descriptions_of_section_11_13(
    ca, bearer: str, body: dict[str, Any], description: str
) -> None:
    status, answer = _post(body, bearer)
    assert (status, answer) == (400, {"error": "invalid_request", "error_description": description})
