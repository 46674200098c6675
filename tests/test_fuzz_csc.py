"""schemathesis over the remote-signing API's own OpenAPI document (issue 14, "Fuzzing in CI"): every operation of
``/csc/v2/``, with inputs that follow the schema and inputs that break it, answered in-process by the Django app on
the test database; no server error, every refusal in the CSC error shape, every status one the operation documents
(issue 17).

Bounded and deterministic: a fixed seed, derandomised generation, a few dozen examples per operation, no example
database. The caller is real: the claimant's tool (a device-login token) or the platform (an API key), and the
request usually names the activated credential, so that authorisation, signing and decryption are reached."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response
from schemathesis.generation.case import Case
from schemathesis.generation.modes import GenerationMode

from mobileca.cards.models import Card
from mobileca.shield import callers, keyuse
from mobileca.shield.api import api
from mobileca.shield.models import Credential
from tests.support.fuzz import ServerErrors, in_process_app
from tests.support.oauth import platform_bearer
from tests.support.shield import LEGAL_REP, PIN, activated_credential, ca_ready, card, registered  # noqa: F401

SEED = 14
MAX_EXAMPLES = 30
PREFIX = "/csc/v2"
ECDSA_SHA256, SHA256 = "1.2.840.10045.4.3.2", "2.16.840.1.101.3.4.2.1"
# Routers mounted on the API whose answers are documented by their own modules (the OAuth 2.0 endpoints, the
# time-stamping method): fuzzed for server errors and the error shape, not (yet) held to their documented statuses.


def _undocumented(case: Case, response: Response) -> str | None:
    """A status the operation's OpenAPI document does not list (every route declares its answers: 200, 202, and its
    refusals with their schema), described in one line."""
    documented = {str(status) for status in case.operation.definition.raw.get("responses", {})}
    if str(response.status_code) in documented:
        return None
    return f"{case.method} {case.path} → {response.status_code}, documented {sorted(documented)}"


def _shape_violation(case: Case, response: Response) -> str | None:
    """A refusal that is not ``{"error": code, "error_description": message}``, the API's error shape (its module
    docstring), described in one line."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content or b"")
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str) and isinstance(body.get("error_description"), str):
        return None
    kind = "HTML page" if response.content.lstrip().startswith(b"<") else response.content[:80].decode(errors="replace")
    return f"not the CSC error shape: {case.method} {case.path} → {response.status_code} {kind}"


@pytest.fixture
def csc_world(registered: Card, ca_ready: None) -> dict[str, str]:
    """An activated credential, the claimant's tool signed in (device login through the services) and the
    credential's platform holding an API key."""
    credential: Credential = activated_credential(registered)
    start = callers.device_start(client_name="fuzz")
    callers.device_decide(user_code=start.user_code, account=LEGAL_REP, allow=True)
    token, _ = callers.device_token(device_code=start.device_code)
    key = platform_bearer(credential.claim.platform)
    return {"credential": credential.service_no, "token": token, "key": key}


@pytest.fixture
def wsgi() -> Iterator[tuple[Any, ServerErrors]]:
    with in_process_app() as app:
        yield app


def _served_schema(settings: Any) -> schemathesis.BaseSchema:
    """The API's OpenAPI document as a caller reads it at /csc/v2/openapi.json (the API docs switched on)."""
    if hasattr(settings, "MOBILECA_API_DOCS"):
        settings.MOBILECA_API_DOCS = True
    response = Client().get(f"{PREFIX}/openapi.json")
    if response.status_code == 200:
        document = response.json()
    else:  # the docs are switched off where the URL table is built: the same document, from the API object
        document = json.loads(json.dumps(api.get_openapi_schema(path_prefix=PREFIX)))
    config = SchemathesisConfig.from_dict({"seed": SEED, "generation": {"deterministic": True, "database": "none"}})
    return schemathesis.openapi.from_dict(document, config=config)


def _authorised(body: dict[str, Any], world: dict[str, str]) -> None:
    """Make a signHash or decrypt request one the claimant authorised (the PIN through the service), so that the
    signing and the envelope parsing are reached; the envelope itself stays what was generated."""
    body.update(credentialID=world["credential"], hashAlgorithmOID=SHA256, signAlgo=ECDSA_SHA256)
    for v1_name in ("hash", "hashAlgo", "signAlgoParams", "operationMode"):  # the v2 names (set here) alone
        body.pop(v1_name, None)
    if "envelope" in body:
        raw = body["envelope"] if isinstance(body["envelope"], str) else json.dumps(body["envelope"])
        try:
            envelope = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            envelope = raw.encode(errors="surrogatepass")
        body["envelope"] = base64.b64encode(envelope).decode()
        operation, hashes = "decrypt", [base64.b64encode(hashlib.sha256(envelope).digest()).decode()]
    else:
        operation, hashes = "sign", [base64.b64encode(hashlib.sha256(repr(body).encode()).digest()).decode()]
        body["hashes"] = hashes
    caller = callers.Caller("token", LEGAL_REP)
    result = keyuse.authorize(
        caller=caller, credential_id=world["credential"], operation=operation, hashes=hashes, pin=PIN
    )
    body["SAD"] = result.sad


def _fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    world: dict[str, str],
    app: Any,
    errors: ServerErrors,
    shapes: dict[str, str],
    reached: Counter[str],
) -> None:
    @given(
        case=operation.as_strategy(generation_mode=mode),
        who=st.sampled_from(["token", "key", "token", "none"]),
        own=st.booleans(),
        pin=st.booleans(),
        deep=st.booleans(),
    )
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case, who: str, own: bool, pin: bool, deep: bool) -> None:
        if isinstance(case.body, dict):
            if own and "credentialID" in case.body:
                case.body["credentialID"] = world["credential"]
            if pin and isinstance(case.body.get("authData"), list):  # the right PIN for well-formed digests
                digest = base64.b64encode(hashlib.sha256(repr(case.body).encode()).digest()).decode()
                case.body.update(authData=[{"id": "PIN", "value": PIN}], hashes=[digest], numSignatures=1)
                case.body.update(hashAlgorithmOID="")
            if deep and who == "token" and "SAD" in case.body:
                _authorised(case.body, world)
        headers = {"Host": "testserver"}
        if who != "none":
            headers["Authorization"] = f"Bearer {world[who]}"
        response = case.call(app=app, headers=headers)
        assert response.status_code < 500, (
            f"{response.status_code}: {errors.last()}\nbody: {json.dumps(case.body, default=repr)[:1500]}"
        )
        reached[f"{case.method} {case.path} {response.status_code}"] += 1
        for violation in (_shape_violation(case, response), _undocumented(case, response)):
            if violation:
                shapes.setdefault(violation, json.dumps(case.body, default=repr)[:300])

    run()


def test_the_remote_signing_api_never_answers_a_server_error(
    csc_world: dict[str, str], wsgi: tuple[Any, ServerErrors], settings: Any
) -> None:
    """Issue 14: 0 server errors over the API's own document, with inputs that fit it and inputs that break it;
    every refusal in the API's error shape, every status documented. Every operation is fuzzed; the failures of all
    are reported together."""
    app, errors = wsgi
    failures: list[str] = []
    shapes: dict[str, str] = {}  # refusals not in the error shape, or undocumented statuses → an input that did it
    reached: Counter[str] = Counter()  # operation and status → how often (printed: how deep the fuzzing went)
    operations = [result.ok() for result in _served_schema(settings).get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz_operation(operation, mode, csc_world, app, errors, shapes, reached)
            except Unsatisfiable:  # nothing breaks a schema without parameters (info)
                continue
            except (Exception, BaseExceptionGroup) as failure:  # noqa: BLE001 (collected, reported below)
                failures.append(f"{operation.label} [{mode.value}]: {str(failure)[:2500]}")
    print("\n".join(f"{count:4} × {key}" for key, count in sorted(reached.items())))
    failures += [f"{violation}; e.g. body {body}" for violation, body in shapes.items()]
    assert not failures, "\n\n".join(failures)
