"""``mobileca records [--verify]``: the claimant's operations, and the check that every one of them is in the
platform's public transparency log and that the log never changed what it showed before (issue 15).

``--verify``, with only ``mobileca.audit.merkle`` and ``mobileca.audit.treehead`` (no Django; the very code the
server proves with, so a disagreement is the data's, not the arithmetic's):

1. the signed tree head (STH) that the operations' proofs are against is checked with the log's key, trusted on
   first use and kept in a local state file; a different key is refused unless ``--accept-new-log-key``;
2. each operation's log entry (the exact bytes its leaf hashes) must name the operation shown (the same event id,
   action and subject), and its inclusion proof must lead from the hash computed here to the STH's root;
3. every operation seen in the log before (by leaf index, with its leaf hash), and every one seen waiting for it,
   must be there again;
4. the new STH must extend the one verified last time: never a smaller tree, the same root at the same size, and
   otherwise a consistency proof (``/transparency/v1/sth-consistency``) that verifies;

then the new STH and the operations seen are saved. Whatever fails is said plainly, with a non-zero exit code:
``the server hid an operation`` (3), ``the log rewrote history`` (4), or the log's key or signature is not the one
trusted (5). Nothing is saved after a failure, so the next run compares with the same trusted state.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from mobileca.audit import merkle
from mobileca.audit.treehead import SignedTreeHead, key_id

HIDDEN, REWRITTEN, UNTRUSTED = 3, 4, 5
STATE_VERSION = 1


class Client(Protocol):
    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]: ...


class RecordsError(Exception):
    """The tool cannot do its work (an answer it cannot read, no tree head yet): exit code 1."""


@dataclass
class Findings:
    """What a verification found: each alarm in plain words, by kind."""

    hidden: list[str] = field(default_factory=list)
    rewritten: list[str] = field(default_factory=list)
    untrusted: list[str] = field(default_factory=list)
    previous_size: int | None = None  # the tree size verified last time, if any

    @property
    def ok(self) -> bool:
        return not (self.hidden or self.rewritten or self.untrusted)

    @property
    def exit_code(self) -> int:
        if self.untrusted:
            return UNTRUSTED
        if self.rewritten:
            return REWRITTEN
        return HIDDEN if self.hidden else 0

    def lines(self) -> Iterator[str]:
        for problem in self.untrusted:
            yield f"ALERT: the log is not the one trusted before: {problem}"
        for problem in self.rewritten:
            yield f"ALERT: the log rewrote history: {problem}"
        for problem in self.hidden:
            yield f"ALERT: the server hid an operation: {problem}"


@dataclass(frozen=True)
class Fetched:
    account: str
    sth: SignedTreeHead | None
    max_lag_ms: int
    operations: list[dict[str, Any]]


# --- fetching -------------------------------------------------------------------------------------------------------

RECORDS_PATH = "/csc/v2/x-mobileca/records"
LOG_PATH = "/transparency/v1"


def _head(document: Any) -> SignedTreeHead | None:
    if document is None:
        return None
    if not isinstance(document, dict):
        raise RecordsError("unexpected answer from the platform: the tree head is not an object")
    try:
        return SignedTreeHead.from_json(document)
    except ValueError as exc:
        raise RecordsError(f"unexpected answer from the platform: {exc}") from exc


def fetch(client: Client) -> Fetched:
    """Every page of the caller's operations, all proven against the head of the first page."""
    first = client.get(RECORDS_PATH)
    sth = _head(first.get("sth"))
    operations = list(first.get("operations") or [])
    cursor = first.get("next")
    while cursor is not None:
        params: dict[str, Any] = {"after": cursor}
        if sth is not None:
            params["tree_size"] = sth.tree_size
        page = client.get(RECORDS_PATH, params)
        operations += list(page.get("operations") or [])
        cursor = page.get("next")
    lag = first["sth"].get("max_lag_ms", 0) if isinstance(first.get("sth"), dict) else 0
    return Fetched(account=str(first.get("account", "")), sth=sth, max_lag_ms=int(lag or 0), operations=operations)


# --- the local state ------------------------------------------------------------------------------------------------


def load_state(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"version": STATE_VERSION, "logs": {}}
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RecordsError(f"{path}: unreadable state file ({exc}); move it away to start over") from exc
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION or not isinstance(state.get("logs"), dict):
        raise RecordsError(f"{path}: not a state file of this tool; move it away to start over")
    return state


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Written whole to a temporary file, then renamed over the old one (mode 0600): never half a state."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(state, out, indent=1, sort_keys=True)
    os.replace(temporary, path)


# --- the checks -----------------------------------------------------------------------------------------------------


def _b64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not base64 text")
    return base64.b64decode(text, validate=True)


def _log_key(client: Client, wanted: str) -> bytes | None:
    """The DER public key the log publishes under ``wanted`` (its key id), if its id is its hash."""
    for entry in client.get(f"{LOG_PATH}/public-key").get("keys") or []:
        try:
            der = _b64(entry.get("key"))
        except (ValueError, binascii.Error):
            continue
        if entry.get("key_id") == wanted and key_id(der) == wanted:
            return der
    return None


def _trusted_key(
    client: Client, log: dict[str, Any], sth: SignedTreeHead, accept_new_key: bool, findings: Findings, say: Any
) -> bytes | None:
    pinned = log.get("key_id")
    if pinned == sth.key_id:
        return _b64(log["public_key"])
    if pinned is not None and not accept_new_key:
        findings.untrusted.append(
            f"the tree head is signed by log key {sth.key_id[:16]}…, not by {pinned[:16]}… trusted before "
            "(if the platform announced a new log key, run again with --accept-new-log-key)"
        )
        return None
    der = _log_key(client, sth.key_id)
    if der is None:
        findings.untrusted.append(f"the log does not publish the key {sth.key_id[:16]}… that signed its tree head")
        return None
    say(f"{'Trusting a new' if pinned else 'Trusting the'} log key {sth.key_id[:16]}… (ecdsa-p256-sha256) from now on.")
    return der


def _check_operation(operation: dict[str, Any], sth: SignedTreeHead) -> tuple[str | None, int | None, bytes | None]:
    """(problem, leaf index, leaf hash) of one operation; a problem is a hidden or disguised operation."""
    name = f"record {operation.get('id')} ({operation.get('action')}, {str(operation.get('createdAt', ''))[:19]})"
    event = operation.get("event") or {}
    try:
        entry_bytes = _b64(event.get("entry"))
        entry = json.loads(entry_bytes)
    except (ValueError, binascii.Error):
        return f"{name}: its log entry is unreadable", None, None
    shown = (event.get("id"), event.get("action"), event.get("subject"))
    if not isinstance(shown[0], int):
        return f"{name}: the platform shows no event for it", None, None
    logged = (entry.get("id"), entry.get("action"), entry.get("subject")) if isinstance(entry, dict) else None
    if logged != shown or event.get("action") != f"operation.{operation.get('action')}":
        return f"{name}: the log entry names another operation ({logged})", None, None
    credential = operation.get("credentialID")
    if credential is not None and event.get("subject") != f"credential:{credential}":
        return f"{name}: the log entry is about {event.get('subject')}, not credential {credential}", None, None
    if not event.get("included"):
        return None, None, None
    leaf = merkle.leaf_hash(entry_bytes)
    index = event.get("leaf_index")
    try:
        path = [_b64(node) for node in event.get("audit_path") or []]
    except (ValueError, binascii.Error):
        path = []
    if not isinstance(index, int) or not merkle.verify_inclusion(leaf, index, sth.tree_size, path, sth.root_hash):
        return f"{name}: its inclusion proof (leaf #{index}) does not lead to the signed tree head", None, None
    return None, index, leaf


def _check_consistency(client: Client, old: SignedTreeHead, new: SignedTreeHead, findings: Findings) -> None:
    if new.tree_size < old.tree_size:
        findings.rewritten.append(
            f"the tree has {new.tree_size} entries now, fewer than the {old.tree_size} it had signed before"
        )
        return
    if new.tree_size == old.tree_size:
        if new.root_hash != old.root_hash:
            findings.rewritten.append(f"the tree of {new.tree_size} entries has another root than before")
        return
    if old.tree_size == 0:
        return
    document = client.get(f"{LOG_PATH}/sth-consistency", {"first": old.tree_size, "second": new.tree_size})
    try:
        proof = [_b64(node) for node in document.get("consistency") or []]
    except (ValueError, binascii.Error):
        proof = []
    if not merkle.verify_consistency(old.tree_size, new.tree_size, old.root_hash, new.root_hash, proof):
        findings.rewritten.append(
            f"the tree of {new.tree_size} entries does not extend the tree of {old.tree_size} signed at "
            f"{when(old.timestamp_ms)} (the consistency proof fails)"
        )


def when(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def verify(
    client: Client, fetched: Fetched, state: dict[str, Any], *, server: str, accept_new_key: bool, say: Any
) -> Findings:
    """Check ``fetched`` against the log and ``state``; on success ``state`` is updated in place (save it)."""
    findings = Findings()
    sth = fetched.sth
    if sth is None:
        raise RecordsError("the log has not signed a tree head yet; try again in a few seconds")
    log: dict[str, Any] = dict(state["logs"].get(server) or {})
    der = _trusted_key(client, log, sth, accept_new_key, findings, say)
    if der is None:
        return findings
    if not sth.verify(der):
        findings.untrusted.append(f"the signature of the tree head of {sth.tree_size} entries does not verify")
        return findings

    seen_leaves: dict[int, tuple[bytes, dict[str, Any]]] = {}
    seen_events: set[int] = set()
    waiting: set[int] = set()
    for operation in fetched.operations:
        problem, index, leaf = _check_operation(operation, sth)
        if problem:
            findings.hidden.append(problem)
            continue
        event_id = operation["event"]["id"]  # checked: the entry names it
        seen_events.add(event_id)
        if index is not None and leaf is not None:
            seen_leaves[index] = (leaf, operation)
        else:
            waiting.add(event_id)

    mine: dict[str, Any] = dict((log.get("accounts") or {}).get(fetched.account) or {})
    for key, before in (mine.get("leaves") or {}).items():
        now_there = seen_leaves.get(int(key))
        described = (
            f"leaf #{key} ({before.get('action')} on {before.get('at', '')[:19]}, record {before.get('record')})"
        )
        if now_there is None:
            findings.hidden.append(f"{described}, in the log when last verified, is not listed now")
        elif base64.b64encode(now_there[0]).decode() != before.get("leaf_hash"):
            findings.rewritten.append(f"{described} is another entry now")
    for event_id in mine.get("waiting") or []:
        if event_id not in seen_events:
            findings.hidden.append(f"event {event_id}, waiting for the log when last verified, is not listed now")

    if log.get("sth"):
        previous = SignedTreeHead.from_json(log["sth"])
        findings.previous_size = previous.tree_size
        _check_consistency(client, previous, sth, findings)
    if not findings.ok:
        return findings

    log.update(
        key_id=sth.key_id,
        public_key=base64.b64encode(der).decode(),
        sth=sth.as_json(),
        verified_at=datetime.now(tz=UTC).isoformat(timespec="seconds"),
    )
    log["accounts"] = {
        **(log.get("accounts") or {}),
        fetched.account: {
            "leaves": {
                str(index): {
                    "leaf_hash": base64.b64encode(leaf).decode(),
                    "record": operation.get("id"),
                    "action": operation.get("action"),
                    "at": operation.get("createdAt", ""),
                }
                for index, (leaf, operation) in sorted(seen_leaves.items())
            },
            "waiting": sorted(waiting),
        },
    }
    state["logs"][server] = log
    return findings


def describe(operation: dict[str, Any]) -> str:
    event = operation.get("event") or {}
    place = f"leaf #{event['leaf_index']}" if event.get("included") else "waiting for the log"
    purpose = " / ".join(part for part in (operation.get("platform"), operation.get("purpose")) if part)
    return (
        f"{str(operation.get('createdAt', ''))[:19]}  {operation.get('credentialID') or '-'}  "
        f"{operation.get('action')!s:12}  {place:20}  {purpose}"
    ).rstrip()
