"""The claimant's side of the transparency log (issue 15, R4.4): the operation records page shows each record's leaf
and whether the latest signed tree head includes it; ``/csc/v2/x-mobileca/records`` gives the claimant's own tool
each operation's log entry and inclusion proof; ``mobileca records --verify`` checks them against a server and says
plainly when the server hid an operation or the log rewrote history."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from mobileca.accounts.models import User
from mobileca.audit import merkle
from mobileca.audit.models import AuditEvent, LogKey, TreeHead
from mobileca.audit.sequencer import audit_sequence
from mobileca.audit.services import Actor, audit_record
from mobileca.audit.treehead import SignedTreeHead
from mobileca.cards.models import Card
from mobileca.shield import callers
from mobileca.shield.claims import claim_activate
from mobileca.shield.models import Credential, OperationRecord
from mobileca.shield.records import record_operation
from tests.support.audit import tampering
from tests.support.cli import tool_in_process
from tests.support.oauth import platform_bearer
from tests.support.shield import (  # noqa: F401 (fixtures)
    LEGAL_REP,
    PIN,
    activated_credential,
    ca_ready,
    card,
    member_claim_at_pin,
    paid_card,
    phone_login,
    registered,
)

MEMBER = "2088102000000002"
RECORDS = "/csc/v2/x-mobileca/records"


def _token_for(account: str) -> str:
    start = callers.device_start(client_name="test")
    callers.device_decide(user_code=start.user_code, account=account, allow=True)
    token, _ = callers.device_token(device_code=start.device_code)
    return token


def _sign(credential: Credential, purpose: str, count: int = 1) -> list[OperationRecord]:
    """What a signature leaves: an operation record and its audit event (through the service that writes both)."""
    with transaction.atomic():
        return [
            record_operation(
                action="sign",
                account=credential.account,
                enterprise_uscc=credential.enterprise_uscc,
                credential=credential,
                platform="阳光采购平台",
                purpose=f"{purpose} {n}",
                address="127.0.0.1",
            )
            for n in range(count)
        ]


def _other_events(count: int) -> None:
    with transaction.atomic():
        for n in range(count):
            audit_record(action="test.other", subject=f"thing:{n}", actor=Actor("system", "test"))


def _get(token: str, **params: Any) -> tuple[int, dict[str, Any]]:
    response = Client().get(RECORDS, params, HTTP_AUTHORIZATION=f"Bearer {token}")
    return response.status_code, response.json()


@pytest.fixture
def claimant(registered: Card, ca_ready: None) -> tuple[Credential, str]:
    """An activated credential (its claim is its first operation) and its claimant's tool token."""
    credential = activated_credential(registered)
    return credential, _token_for(LEGAL_REP)


@pytest.fixture
def member(claimant: tuple[Credential, str], bidder: User, finance: User) -> tuple[Credential, str]:
    """An employee of the same enterprise with a credential of their own, approved by the admin (the claimant)."""
    claim, _ = member_claim_at_pin(paid_card(bidder, finance, "member-card"), MEMBER, admin=LEGAL_REP)
    credential = claim_activate(ticket=claim.ticket, account=MEMBER, pin=PIN, pin_again=PIN)
    return credential, _token_for(MEMBER)


# --- the API ----------------------------------------------------------------------------------------------------


def test_the_api_gives_each_operation_its_log_entry_and_an_inclusion_proof_against_the_signed_head(
    claimant: tuple[Credential, str],
) -> None:
    credential, token = claimant
    _sign(credential, "投标文件", 2)
    audit_sequence()
    _sign(credential, "尚未入账")  # committed, not yet sequenced

    status, answer = _get(token)

    assert status == 200 and answer["account"] == LEGAL_REP and answer["next"] is None
    sth = SignedTreeHead.from_json(answer["sth"])
    assert sth.verify(bytes(LogKey.objects.get().public_key_der))
    actions = [(operation["action"], operation["event"]["included"]) for operation in answer["operations"]]
    assert actions == [("claim", True), ("sign", True), ("sign", True), ("sign", False)]
    for operation in answer["operations"]:
        entry_bytes = base64.b64decode(operation["event"]["entry"])
        entry = json.loads(entry_bytes)
        event = AuditEvent.objects.get(pk=operation["event"]["id"])
        assert (entry["id"], entry["action"], entry["subject"]) == (event.pk, event.action, event.subject)
        assert entry["subject"] == f"credential:{credential.service_no}" == f"credential:{operation['credentialID']}"
        if operation["event"]["included"]:
            path = [base64.b64decode(node) for node in operation["event"]["audit_path"]]
            leaf = merkle.leaf_hash(entry_bytes)
            assert merkle.verify_inclusion(leaf, event.leaf_index, sth.tree_size, path, sth.root_hash)
        else:
            assert operation["event"]["leaf_index"] is None and operation["event"]["audit_path"] is None


def test_the_api_pages_through_the_operations_against_one_head(claimant: tuple[Credential, str]) -> None:
    credential, token = claimant
    _sign(credential, "签名", 4)
    audit_sequence()
    _, first = _get(token, limit=2)
    size = first["sth"]["tree_size"]
    _sign(credential, "之后", 1)
    audit_sequence()  # the log grows between the pages
    _, second = _get(token, limit=2, after=first["next"], tree_size=size)
    _, third = _get(token, limit=2, after=second["next"], tree_size=size)
    ids = [operation["id"] for page in (first, second, third) for operation in page["operations"]]
    assert ids == sorted(OperationRecord.objects.values_list("pk", flat=True)) and third["next"] is None
    assert second["sth"]["tree_size"] == third["sth"]["tree_size"] == size
    assert [operation["event"]["included"] for operation in third["operations"]] == [True, False]  # last: after it


def test_claimants_never_see_each_others_operations(
    claimant: tuple[Credential, str], member: tuple[Credential, str]
) -> None:
    (own, own_token), (other, other_token) = claimant, member
    _sign(own, "管理员的签名")
    _sign(other, "成员的签名")
    audit_sequence()
    _, mine = _get(own_token)
    _, theirs = _get(other_token)
    assert {operation["credentialID"] for operation in mine["operations"]} == {own.service_no}
    assert {operation["credentialID"] for operation in theirs["operations"]} == {other.service_no}
    assert "成员的签名" not in json.dumps(mine, ensure_ascii=False)
    assert "管理员的签名" not in json.dumps(theirs, ensure_ascii=False)
    mine_events = {operation["event"]["id"] for operation in mine["operations"]}
    theirs_events = {operation["event"]["id"] for operation in theirs["operations"]}
    assert mine_events and theirs_events and not mine_events & theirs_events


def test_a_platform_and_a_stranger_get_no_records(claimant: tuple[Credential, str]) -> None:
    status, refused = _get(platform_bearer(claimant[0].claim.platform))
    assert (status, refused["error"]) == (403, "access_denied") and "operations" not in refused
    response = Client().get(RECORDS)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_token")


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"after": "-1"}, 400),
        ({"after": "x"}, 400),
        ({"limit": "0"}, 400),
        ({"limit": "100000"}, 400),
        ({"tree_size": "9" * 30}, 400),
        ({"tree_size": "999"}, 404),
    ],
)
def test_bad_record_queries_are_refused_as_json(
    claimant: tuple[Credential, str], params: dict[str, str], status: int
) -> None:
    audit_sequence()
    got, refused = _get(claimant[1], **params)
    assert got == status and refused["error"] in ("invalid_request", "not_found") and refused["error_description"]


def test_the_openapi_document_names_the_route_as_an_extension(claimant: tuple[Credential, str], settings: Any) -> None:
    settings.MOBILECA_API_DOCS = True
    document = Client().get("/csc/v2/openapi.json").json()
    operation = document["paths"][RECORDS]["get"]
    assert "not part of CSC" in operation["summary"] and operation["tags"] == ["x-mobileca (not CSC)"]


# --- the records page -------------------------------------------------------------------------------------------


def test_the_records_page_shows_each_leaf_and_whether_the_signed_head_includes_it_in_fixed_queries(
    claimant: tuple[Credential, str],
) -> None:
    credential, _ = claimant
    phone = phone_login(LEGAL_REP, next_page="/h5/records/")
    audit_sequence()
    with CaptureQueriesContext(connection) as one:
        page = phone.get("/h5/records/").content.decode()
    claim_leaf = AuditEvent.objects.get(pk=OperationRecord.objects.get().audit_event_id).leaf_index
    assert f"第 {claim_leaf} 号，已纳入最新签名树头" in page and "待入账" not in page

    _sign(credential, "签名", 5)
    with CaptureQueriesContext(connection) as six:
        page = phone.get("/h5/records/").content.decode()
    assert page.count('data-log="waiting"') == 5 and page.count("待入账") == 5
    assert len(six.captured_queries) == len(one.captured_queries)  # no query per record

    audit_sequence()
    page = phone.get("/h5/records/").content.decode()
    assert page.count('data-log="included"') == 6 and "待入账" not in page
    head = TreeHead.objects.first()
    assert head is not None and f"共 {head.tree_size} 条" in page


# --- the command-line tool --------------------------------------------------------------------------------------


@pytest.fixture
def tool(
    claimant: tuple[Credential, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> Callable[..., tuple[int, str]]:
    """``mobileca`` against the test server (in process), logged in as the claimant; returns (exit code, output)."""
    from mobileca.cli import main as cli

    tool_in_process(monkeypatch, tmp_path / "config", claimant[1])

    def run(*args: str) -> tuple[int, str]:
        code = cli.main(["records", *args])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    return run


def _state(tmp_path: Path) -> dict[str, Any]:
    return dict(json.loads((tmp_path / "config" / "transparency.json").read_text()))


def _rebuild_the_tree(*statements: tuple[str, list[Any]]) -> None:
    """A forked log: change the events with ``statements``, then throw the tree away and sequence it anew, signed
    with the log's own key. Every proof in the new tree is consistent with itself, not with the old one."""
    with tampering(), connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("UPDATE audit_auditevent SET leaf_index = NULL")
        cursor.execute("DELETE FROM audit_auditnode")
        cursor.execute("DELETE FROM audit_treehead")
    audit_sequence()


def test_records_lists_the_operations_and_their_place_in_the_log(
    claimant: tuple[Credential, str], tool: Callable[..., tuple[int, str]], tmp_path: Path
) -> None:
    credential, _ = claimant
    _sign(credential, "投标文件")
    audit_sequence()
    _sign(credential, "等待")
    code, output = tool()
    lines = output.strip().splitlines()
    assert code == 0 and len(lines) == 3
    assert "claim" in lines[0] and "leaf #" in lines[0] and credential.service_no in lines[0]
    assert "投标文件 0" in lines[1] and "waiting for the log" in lines[2]
    assert not (tmp_path / "config" / "transparency.json").exists()  # a listing trusts nothing


def test_verify_trusts_the_log_on_first_use_then_checks_consistency_with_what_it_saw(
    claimant: tuple[Credential, str], tool: Callable[..., tuple[int, str]], tmp_path: Path
) -> None:
    credential, _ = claimant
    _sign(credential, "第一批", 2)
    audit_sequence()
    code, output = tool("--verify")
    assert code == 0, output
    assert "Trusting the log key" in output and "Verified: 3 operation(s)" in output and "first tree head" in output
    state = _state(tmp_path)["logs"]["http://testserver"]
    first_size = state["sth"]["tree_size"]
    assert state["key_id"] == LogKey.objects.get().key_id and len(state["accounts"][LEGAL_REP]["leaves"]) == 3
    assert (tmp_path / "config" / "transparency.json").stat().st_mode & 0o777 == 0o600

    _sign(credential, "第二批", 2)
    _other_events(5)
    audit_sequence()
    _sign(credential, "等待")
    code, output = tool("--verify")
    assert code == 0, output
    assert f"consistent with the tree of {first_size} verified last time" in output
    assert "Verified: 5 operation(s)" in output and "1 waiting for the log" in output
    state = _state(tmp_path)["logs"]["http://testserver"]
    assert state["sth"]["tree_size"] == first_size + 7 and state["accounts"][LEGAL_REP]["waiting"]


def _verified_once(credential: Credential, tool: Callable[..., tuple[int, str]]) -> str:
    _sign(credential, "签名", 2)
    _other_events(3)
    audit_sequence()
    code, output = tool("--verify")
    assert code == 0, output
    return output


def test_verify_says_the_server_hid_an_operation_when_a_record_seen_before_is_gone(
    claimant: tuple[Credential, str], tool: Callable[..., tuple[int, str]], tmp_path: Path
) -> None:
    credential, _ = claimant
    _verified_once(credential, tool)
    before = (tmp_path / "config" / "transparency.json").read_bytes()
    hidden = OperationRecord.objects.filter(action="sign").order_by("pk").last()
    assert hidden is not None
    leaf = AuditEvent.objects.get(pk=hidden.audit_event_id).leaf_index
    hidden.delete()  # the server's list leaves it out; the log still has it
    code, output = tool("--verify")
    assert code == 3
    assert f"ALERT: the server hid an operation: leaf #{leaf} (sign on" in output
    assert "in the log when last verified, is not listed now" in output
    assert (tmp_path / "config" / "transparency.json").read_bytes() == before  # nothing trusted after an alarm


def test_verify_says_the_server_hid_an_operation_seen_waiting_that_never_arrived(
    claimant: tuple[Credential, str], tool: Callable[..., tuple[int, str]]
) -> None:
    credential, _ = claimant
    audit_sequence()
    (waiting,) = _sign(credential, "等待")
    assert tool("--verify")[0] == 0
    OperationRecord.objects.filter(pk=waiting.pk).delete()
    code, output = tool("--verify")
    assert code == 3 and f"event {waiting.audit_event_id}, waiting for the log when last verified" in output


def test_verify_says_the_server_hid_an_operation_when_an_inclusion_proof_fails(
    claimant: tuple[Credential, str], tool: Callable[..., tuple[int, str]]
) -> None:
    credential, _ = claimant
    _sign(credential, "签名")
    audit_sequence()
    record = OperationRecord.objects.filter(action="sign").get()
    with tampering(), connection.cursor() as cursor:  # the entry shown is not the one the leaf hashes
        forged = json.dumps({"purpose": "别的"})
        cursor.execute("UPDATE audit_auditevent SET data = %s WHERE id = %s", [forged, record.audit_event_id])
    code, output = tool("--verify")
    assert code == 3
    assert f"ALERT: the server hid an operation: record {record.pk} (sign" in output
    assert "does not lead to the signed tree head" in output


def test_verify_says_the_server_hid_an_operation_when_the_entry_names_another_one(
    claimant: tuple[Credential, str], tool: Callable[..., tuple[int, str]]
) -> None:
    credential, _ = claimant
    _sign(credential, "签名")
    audit_sequence()
    OperationRecord.objects.filter(action="sign").update(action="pin_change")  # shown as something it was not
    code, output = tool("--verify")
    assert code == 3 and "the log entry names another operation" in output


def test_verify_says_the_log_rewrote_history_when_the_tree_is_forked(
    claimant: tuple[Credential, str], tool: Callable[..., tuple[int, str]], tmp_path: Path
) -> None:
    credential, _ = claimant
    _verified_once(credential, tool)
    before = (tmp_path / "config" / "transparency.json").read_bytes()
    other = AuditEvent.objects.filter(action="test.other").order_by("id").first()
    assert other is not None
    _other_events(2)  # the forked tree is larger: it would pass for the old one grown
    _rebuild_the_tree(("UPDATE audit_auditevent SET subject = %s WHERE id = %s", ["thing:rewritten", other.pk]))

    code, output = tool("--verify")

    assert code == 4
    assert "ALERT: the log rewrote history: the tree of" in output and "(the consistency proof fails)" in output
    assert "hid an operation" not in output  # the claimant's own entries are all there, each with a valid proof
    assert (tmp_path / "config" / "transparency.json").read_bytes() == before


def test_verify_says_the_log_rewrote_history_when_the_tree_shrank(
    claimant: tuple[Credential, str], tool: Callable[..., tuple[int, str]]
) -> None:
    credential, _ = claimant
    _verified_once(credential, tool)
    last_others = list(AuditEvent.objects.filter(action="test.other").order_by("-id").values_list("id", flat=True))
    _rebuild_the_tree(*[("DELETE FROM audit_auditevent WHERE id = %s", [pk]) for pk in last_others[:2]])
    code, output = tool("--verify")
    assert code == 4 and "fewer than the" in output and "it had signed before" in output


def test_a_new_log_key_is_refused_unless_accepted(
    claimant: tuple[Credential, str], tool: Callable[..., tuple[int, str]]
) -> None:
    credential, _ = claimant
    _verified_once(credential, tool)
    LogKey.objects.update(is_active=False)
    _sign(credential, "换钥之后")
    audit_sequence()  # signs with a new log key
    assert LogKey.objects.count() == 2
    code, output = tool("--verify")
    assert code == 5 and "not by" in output and "--accept-new-log-key" in output
    code, output = tool("--verify", "--accept-new-log-key")
    assert code == 0, output
    assert "Trusting a new log key" in output and "verified last time" in output
    assert tool("--verify")[0] == 0  # the new key is the trusted one now


def test_a_tree_head_whose_signature_fails_is_refused(
    claimant: tuple[Credential, str], tool: Callable[..., tuple[int, str]]
) -> None:
    credential, _ = claimant
    _verified_once(credential, tool)
    _sign(credential, "之后")
    audit_sequence()
    heads = list(TreeHead.objects.order_by("id"))
    with tampering():
        TreeHead.objects.filter(pk=heads[-1].pk).update(signature=bytes(heads[0].signature))
    code, output = tool("--verify")
    assert code == 5 and "does not verify" in output


def test_a_state_file_can_be_named(
    claimant: tuple[Credential, str], tool: Callable[..., tuple[int, str]], tmp_path: Path
) -> None:
    audit_sequence()
    state = tmp_path / "elsewhere" / "log.json"
    assert tool("--verify", "--state", str(state))[0] == 0
    assert json.loads(state.read_text())["logs"]["http://testserver"]["sth"]["tree_size"] >= 1
    assert not (tmp_path / "config" / "transparency.json").exists()


@pytest.mark.django_db(transaction=True)
def test_the_tool_over_real_http_against_a_running_server_detects_a_hidden_operation(
    claimant: tuple[Credential, str],
    live_server: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    from mobileca.cli import main as cli

    credential, token = claimant
    _sign(credential, "投标文件", 2)
    audit_sequence()
    monkeypatch.setenv("MOBILECA_CONFIG_DIR", str(tmp_path / "config"))
    cli._save_token(live_server.url, {"access_token": token, "expires_at": 4102444800})
    assert cli.main(["records", "--verify"]) == 0, capsys.readouterr()
    assert "Verified: 3 operation(s)" in capsys.readouterr().out

    OperationRecord.objects.filter(action="sign").order_by("pk").last().delete()  # type: ignore[union-attr]
    assert cli.main(["records", "--verify"]) == 3
    assert "ALERT: the server hid an operation: leaf #" in capsys.readouterr().err
