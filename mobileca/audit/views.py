"""The transparency log's public read side, under ``/transparency/v1/`` (RFC 6962 §4 / RFC 9162 §5 in spirit):

* ``sth`` — the latest signed tree head, and the sequencer's lag behind it (``max_lag_ms``);
* ``public-key`` — the log's keys (SubjectPublicKeyInfo, DER base64 and PEM), the active one first;
* ``proof-by-index?leaf_index=&tree_size=`` and ``proof-by-hash?hash=&tree_size=`` — an inclusion proof;
* ``sth-consistency?first=&second=`` — a consistency proof between two signed tree sizes.

Public (no login), GET and HEAD only, JSON. Only hashes leave here, never an event: a leaf hashes an event with a
random salt, so a hash reveals nothing about what it stands for. A claimant gets their own entries, with their
proofs, from the authenticated ``/csc/v2/x-mobileca/records``. Refusals are ``{"error": code,
"error_description": text}`` with 400 (unreadable input), 404 (nothing signed answers it) or 405; never 500.
Answers that cannot change (a proof between signed sizes, the keys) are cacheable; the head for a second.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import serialization
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from mobileca.audit import proofs
from mobileca.core import inputs
from mobileca.core.errors import ApplicationError
from mobileca.core.middleware import refusals_answered_by

ALGORITHM = "ecdsa-p256-sha256"
MAX_TREE_INDEX = 2**63 - 1  # the columns are 64-bit; anything larger is unreadable input, not a missing leaf
STH_MAX_AGE = 1  # seconds: the sequencer signs a new head every second while events arrive
IMMUTABLE_MAX_AGE = 86400  # a proof between signed sizes never changes
KEYS_MAX_AGE = 3600

Json = dict[str, Any]


class Refusal(Exception):
    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status, self.code, self.description = status, code, description


def _bad(description: str) -> Refusal:
    return Refusal(400, "invalid_request", description)


def _missing(description: str) -> Refusal:
    return Refusal(404, "not_found", description)


def _error(status: int, code: str, description: str) -> JsonResponse:
    response = JsonResponse({"error": code, "error_description": description}, status=status)
    response["Cache-Control"] = "no-cache"
    return response


def _boundary_refusal(refused: ApplicationError) -> HttpResponse:
    """What ``BoundaryMiddleware`` refuses (NUL characters in the address), in this API's shape."""
    return _error(refused.status, "invalid_request", "the address contains characters that are not allowed")


def _answer(document: Json, *, max_age: int) -> JsonResponse:
    response = JsonResponse(document)
    response["Cache-Control"] = f"public, max-age={max_age}"
    return response


def endpoint(view: Callable[[HttpRequest], JsonResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """GET and HEAD only; every refusal as JSON."""

    @functools.wraps(view)
    def answered(request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            response = _error(405, "method_not_allowed", "only GET is offered here")
            response["Allow"] = "GET, HEAD"
            return response
        try:
            return view(request)
        except Refusal as refused:
            return _error(refused.status, refused.code, refused.description)
        except proofs.ProofUnavailable as exc:
            return _error(404, "not_found", str(exc))
        except LookupError:  # a signed size whose nodes are not all stored: a damaged store (audit_verify names it)
            return _error(503, "log_unavailable", "the log cannot answer this proof now")

    return csrf_exempt(refusals_answered_by(_boundary_refusal)(answered))


# --- reading the query --------------------------------------------------------------------------------------------


def _integer(request: HttpRequest, name: str) -> int:
    """A required non-negative integer parameter (ASCII or full-width digits, at most 64 bits)."""
    raw = request.GET.get(name)
    if raw is None:
        raise _bad(f"{name} is required")
    try:
        text = inputs.digits(raw)
        if len(text) > 19 or int(text) > MAX_TREE_INDEX:
            raise inputs.BadInput("out of range")
    except inputs.BadInput as exc:
        raise _bad(f"{name} must be a non-negative integer ({exc})") from None
    return int(text)


def _leaf_hash(request: HttpRequest) -> bytes:
    raw = request.GET.get("hash")
    if raw is None:
        raise _bad("hash is required")
    # a '+' left unescaped in a query string arrives as a blank; URL-safe base64 is read too
    text = raw.strip().replace(" ", "+").replace("-", "+").replace("_", "/")
    try:
        leaf = base64.b64decode(text, validate=True) if len(text) <= 64 else b""
    except (binascii.Error, ValueError):
        leaf = b""
    if len(leaf) != 32:
        raise _bad("hash must be the base64 of a 32-byte leaf hash")
    return leaf


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# --- the endpoints ------------------------------------------------------------------------------------------------


def sth_document() -> Json:
    head = proofs.latest_tree_head()
    if head is None:
        raise _missing("the log has not signed a tree head yet")
    return proofs.tree_head_json(head)


@endpoint
def sth(request: HttpRequest) -> JsonResponse:
    return _answer(sth_document(), max_age=STH_MAX_AGE)


@endpoint
def public_key(request: HttpRequest) -> JsonResponse:
    keys = []
    for log_key in proofs.log_keys():
        der = bytes(log_key.public_key_der)
        pem = serialization.load_der_public_key(der).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        keys.append(
            {
                "key_id": log_key.key_id,
                "algorithm": ALGORITHM,
                "key": _b64(der),
                "pem": pem.decode(),
                "active": log_key.is_active,
            }
        )
    if not keys:
        raise _missing("the log has no key yet")
    return _answer({"keys": keys}, max_age=KEYS_MAX_AGE)


@endpoint
def proof_by_index(request: HttpRequest) -> JsonResponse:
    leaf_index, tree_size = _integer(request, "leaf_index"), _integer(request, "tree_size")
    size, path = proofs.inclusion_proof(leaf_index, tree_size)
    return _answer(
        {"leaf_index": leaf_index, "tree_size": size, "audit_path": [_b64(node) for node in path]},
        max_age=IMMUTABLE_MAX_AGE,
    )


@endpoint
def proof_by_hash(request: HttpRequest) -> JsonResponse:
    leaf, tree_size = _leaf_hash(request), _integer(request, "tree_size")
    leaf_index, size, path = proofs.inclusion_proof_by_hash(leaf, tree_size)
    return _answer(
        {"leaf_index": leaf_index, "tree_size": size, "audit_path": [_b64(node) for node in path]},
        max_age=IMMUTABLE_MAX_AGE,
    )


@endpoint
def sth_consistency(request: HttpRequest) -> JsonResponse:
    first, second = _integer(request, "first"), _integer(request, "second")
    if first > second:
        raise _bad("first must not be larger than second")
    size, proof = proofs.consistency_proof(first, second)
    return _answer(
        {"first": first, "second": size, "consistency": [_b64(node) for node in proof]}, max_age=IMMUTABLE_MAX_AGE
    )
