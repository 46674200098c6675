"""The error tree: the drawing in ``core/errors.py`` is the tree in the code, and the key back-end's failures sit on
the gateway branch's retryable side without ceasing to be ``KeyBackendError``."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable

import httpx
import pytest

import mobileca
from mobileca.core import errors
from mobileca.core.errors import ApplicationError, FinalGatewayError, GatewayError, RetryableGatewayError

BRANCHES = re.compile(r"[ │├└─]*")
ENTRY = re.compile(r"(?P<name>\w+)\s*(?P<status>\d{3})?\s*(?:\[(?P<home>[\w.]+)\])?")


def _drawing() -> dict[str, tuple[str | None, int | None, str]]:
    """name → (parent name, drawn status, home module) as the docstring draws them."""
    doc = errors.__doc__ or ""
    lines = doc[doc.index("    Exception\n") :].split("\n\n")[0].splitlines()
    tree: dict[str, tuple[str | None, int | None, str]] = {}
    stack: list[tuple[int, str]] = []
    for line in lines:
        column = BRANCHES.match(line).end()  # type: ignore[union-attr]
        entry = ENTRY.match(line, column)
        assert entry, line
        while stack and stack[-1][0] >= column:
            stack.pop()
        status = int(entry["status"]) if entry["status"] else None
        tree[entry["name"]] = (stack[-1][1] if stack else None, status, entry["home"] or "core.errors")
        stack.append((column, entry["name"]))
    return tree


def _class(name: str, home: str) -> type[BaseException]:
    if name == "Exception":
        return Exception
    found = getattr(importlib.import_module(f"mobileca.{home}"), name)
    assert isinstance(found, type) and issubclass(found, BaseException)
    return found


def _all_subclasses(root: type) -> set[type]:
    found: set[type] = set()
    for sub in root.__subclasses__():
        found |= {sub} | _all_subclasses(sub)
    return found


def test_the_drawing_in_the_docstring_is_the_tree_in_the_code() -> None:
    tree = _drawing()
    assert {"ApplicationError", "GatewayError", "RetryableGatewayError", "FinalGatewayError"} <= tree.keys()
    for name, (parent, status, home) in tree.items():
        cls = _class(name, home)
        if parent is not None:
            assert cls.__bases__[0] is _class(parent, tree[parent][2]), f"{name} is drawn under {parent}"
        if issubclass(cls, ApplicationError):
            assert status == cls.status, f"{name} answers {cls.status}, drawn {status}"


def test_every_gateway_error_of_the_project_is_drawn_and_says_whether_to_retry() -> None:
    for module in pkgutil.walk_packages(mobileca.__path__, "mobileca."):
        if ".migrations" not in module.name and ".management" not in module.name:
            importlib.import_module(module.name)
    project = {cls for cls in _all_subclasses(GatewayError) if cls.__module__.startswith("mobileca.")}
    undrawn = {cls.__qualname__ for cls in project} - _drawing().keys()
    assert not undrawn, f"draw these in core/errors.py's docstring: {sorted(undrawn)}"
    for cls in project:
        assert cls.retryable is issubclass(cls, RetryableGatewayError), cls
        assert cls.retryable is not issubclass(cls, FinalGatewayError), cls


def test_application_error_codes_are_distinct() -> None:
    codes = [cls.code for cls in (ApplicationError, *_all_subclasses(ApplicationError)) if "code" in vars(cls)]
    assert len(codes) == len(set(codes)), sorted(codes)


def test_a_key_back_end_that_cannot_start_is_a_retryable_gateway_error_still_caught_as_key_backend_error(
    settings,
) -> None:
    from mobileca.ca.backends import KeyBackendError, UnwrapError
    from mobileca.ca.backends.factory import backend

    settings.MOBILECA_CA = {**settings.MOBILECA_CA, "backend": "no-such-store"}
    with pytest.raises(RetryableGatewayError) as failed:
        backend()
    assert isinstance(failed.value, KeyBackendError) and failed.value.retryable
    assert issubclass(UnwrapError, KeyBackendError)  # a tampered key is caught where a key back-end error is


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (lambda request: httpx.Response(503), RetryableGatewayError),
        (lambda request: httpx.Response(400), FinalGatewayError),
        (_unreachable, RetryableGatewayError),
    ],
    ids=["in trouble (5xx)", "says no (4xx)", "unreachable"],
)
def test_a_provider_in_trouble_or_unreachable_is_retryable_and_one_that_says_no_is_final(
    db: None, monkeypatch: pytest.MonkeyPatch, answer: Callable[[httpx.Request], httpx.Response], expected: type
) -> None:
    from mobileca.shield import providers, sms

    monkeypatch.setattr(providers, "http_client", lambda: httpx.Client(transport=httpx.MockTransport(answer)))
    with pytest.raises(GatewayError) as failed:
        sms.send(phone="13907980001", text="验证码 123456")
    assert type(failed.value) is expected
