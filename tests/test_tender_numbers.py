"""Issue 14: a 项目编号 is validated where tenders are created, and no stored value (a row from before the rule, with
``/`` or other characters that mean something in a URL) can break the pages that list tenders."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.bidding.models import Tender, validate_project_no
from mobileca.core.clock import now
from tests.support.platform import login
from tests.support.platform import operator as staff


@pytest.fixture
def operator(db: None) -> Client:
    """The tender agent (招标代理)."""
    return login(Client(), staff("agent", permission=("bidding", "add_tender")))


def _form(project_no: str, **changes: str) -> dict[str, str]:
    local = (now() + timedelta(days=2)).astimezone().replace(tzinfo=None)
    return {
        "project_no": project_no,
        "name": "瓷都大道路灯采购",
        "bid_deadline": local.isoformat(timespec="minutes"),
        "opening_at": (local + timedelta(hours=1)).isoformat(timespec="minutes"),
        **changes,
    }


def _stored() -> tuple[int, int]:
    return Tender.objects.count(), AuditEvent.objects.count()


@pytest.mark.parametrize(
    "project_no",
    ["SEC/1", "SEC\\1", "a b", "../x", "..", "~abc", "-1", "x?y", "x#y", "50%", "x" * 41, "号\u200b1", "a\tb"],
)
def test_a_project_number_that_a_url_cannot_carry_is_refused_with_a_message(operator: Client, project_no: str) -> None:
    """Issue 14: 项目编号 ``SEC/1`` (and its kin) is refused at creation, clearly, and nothing is stored."""
    before = _stored()
    answer = operator.post("/backoffice/tenders/", _form(project_no))
    assert answer.status_code == 400
    assert "项目编号" in answer.content.decode()
    assert _stored() == before
    with pytest.raises(ValidationError):
        validate_project_no(project_no)


@pytest.mark.parametrize("project_no", ["JDZ-2026-041", "JXZC2023-G1-0012", "景采〔2026〕12号", "ZB(2026)001", "A_1.2"])
def test_project_numbers_as_they_are_written_are_accepted_and_their_pages_open(
    operator: Client, bidder_client: Client, project_no: str
) -> None:
    answer = operator.post("/backoffice/tenders/", _form(project_no))
    assert answer.status_code == 302, answer.content.decode()
    tender = Tender.objects.get(project_no=project_no)
    assert tender.url_key == project_no  # the URLs of a valid number are the number itself
    assert bidder_client.get(f"/bidding/tenders/{project_no}/").status_code == 200
    assert operator.get(f"/backoffice/tenders/{project_no}/").status_code == 200


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", ""),
        ("name", "名" * 201),
        ("bid_deadline", "0001-01-01T00:00"),
        ("opening_at", "9999-12-31T23:59"),
        ("bid_deadline", "tomorrow"),
    ],
)
def test_other_bad_tender_fields_are_clear_refusals(operator: Client, field: str, value: str) -> None:
    before = _stored()
    answer = operator.post("/backoffice/tenders/", _form("JDZ-2026-077", **{field: value}))
    assert answer.status_code == 400
    assert _stored() == before


@pytest.mark.parametrize("legacy", ["SEC/1", "a/b/upload", "", "..", "~abc", "x?y#z%", " 空 格 "])
def test_a_tender_stored_before_the_rule_does_not_break_the_lists(
    operator: Client, bidder_client: Client, legacy: str
) -> None:
    """Issue 14: a row with 项目编号 ``SEC/1`` made ``/bidding/`` and ``/backoffice/tenders/`` answer 500
    (NoReverseMatch) for everyone; now both lists render, and the link each gives opens that tender."""
    agent = User.objects.get(username="agent")
    deadline = now() + timedelta(days=1)
    Tender.objects.create(  # as a row written before the rule would be: no validation on this path
        project_no=legacy, name="旧项目", bid_deadline=deadline, opening_at=deadline, created_by=agent, created_at=now()
    )
    listed = bidder_client.get("/bidding/")
    assert listed.status_code == 200
    key = Tender.objects.get(project_no=legacy).url_key
    assert "/" not in key and key
    assert bidder_client.get(f"/bidding/tenders/{key}/").status_code == 200
    assert f"/bidding/tenders/{key}/" in listed.content.decode()
    back_office = operator.get("/backoffice/tenders/")
    assert back_office.status_code == 200
    assert f"/backoffice/tenders/{key}/" in back_office.content.decode()
    overview = operator.get(f"/backoffice/tenders/{key}/")
    assert overview.status_code == 200 and "旧项目" in overview.content.decode()


@pytest.mark.django_db
def test_an_unreadable_tender_key_is_a_404_not_a_500(bidder_client: Client) -> None:
    assert bidder_client.get("/bidding/tenders/~%25%25%25/").status_code == 404
    assert bidder_client.get("/bidding/tenders/~____/").status_code == 404
