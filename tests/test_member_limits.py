"""「成员管理」 limits and inputs (R3.8, issue 14): adding a member texts the number typed, so adds are counted per
enterprise and per number; names and reasons are bounded text; a refused add or rejection stores and texts
nothing; ids and inputs that are no such thing answer a refusal, never a 500."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from django.test import Client

from mobileca.audit.models import AuditEvent
from mobileca.cards.models import Card
from mobileca.core.errors import ApplicationError, NotFound, TooMany
from mobileca.sandboxes.sms.models import Message
from mobileca.shield import members
from mobileca.shield.models import ClaimSession, Membership, ShieldEnterprise
from tests.support.shield import (  # noqa: F401 (fixtures)
    ca_ready,
    card,
    claim_at_pin,
    claim_past_face,
    paid_card,
    phone_login,
    registered,
)

ADMIN, EMPLOYEE = "2088102000000001", "2088102000000004"  # 王建国 (legal representative), 刘晓梅
TEXTS = Callable[[], AbstractContextManager[object]]


@pytest.fixture
def uscc(registered: Card, ca_ready: None) -> str:
    claim_at_pin(registered, ADMIN)
    assert ShieldEnterprise.objects.get().admin_account == ADMIN
    return registered.enterprise.uscc


@pytest.fixture
def texts(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """Run what a block leaves for after its commit (the notices go out then)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _stored() -> list[object]:
    return [
        list(Membership.objects.order_by("pk").values_list()),
        list(ClaimSession.objects.order_by("pk").values_list()),
        list(Message.objects.order_by("pk").values_list()),
        AuditEvent.objects.count(),
    ]


def _refused(texts: TEXTS, call: Callable[[], object], code: str) -> ApplicationError:
    before = _stored()
    with texts(), pytest.raises(ApplicationError) as refused:
        call()
    assert refused.value.code == code, refused.value
    assert _stored() == before  # no membership, no text, no event
    return refused.value


def _add(uscc: str, name: str = "陈立新", phone: str = "13907980005", admin: str = ADMIN) -> Membership:
    return members.member_add(admin_account=admin, uscc=uscc, name=name, phone=phone)


def test_adding_and_removing_one_number_again_and_again_is_refused_past_three_a_day(uscc: str, texts: TEXTS) -> None:
    # issue 14: an admin adding and removing a member could text any phone number without end
    for _ in range(3):
        with texts():
            added = _add(uscc)
        members.member_remove(admin_account=ADMIN, membership_id=added.pk)
    assert Message.objects.filter(phone="13907980005").count() == 3

    refused = _refused(texts, lambda: _add(uscc), "rate_limited")
    assert isinstance(refused, TooMany) and refused.status == 429 and refused.retry_after > 0
    assert "该手机号" in refused.message
    assert Message.objects.filter(phone="13907980005").count() == 3


def test_adds_are_counted_per_enterprise_whatever_the_number(uscc: str, texts: TEXTS, settings: object) -> None:
    settings.MOBILECA_RATE_LIMITS = {"member_add_enterprise": "2/d"}  # type: ignore[attr-defined]
    with texts():
        _add(uscc, "陈立新", "13907980005")
        _add(uscc, "张小工", "13907980003")
    refused = _refused(texts, lambda: _add(uscc, "李南哲", "13907980002"), "rate_limited")
    assert "添加成员的次数已达上限" in refused.message
    assert not Message.objects.filter(phone="13907980002").exists()


def test_refused_adds_are_not_counted_and_a_stranger_cannot_use_the_enterprises_quota(
    uscc: str, texts: TEXTS, settings: object
) -> None:
    settings.MOBILECA_RATE_LIMITS = {"member_add_enterprise": "1/d", "member_add_phone": "1/d"}  # type: ignore[attr-defined]
    for _ in range(3):
        _refused(texts, lambda: _add(uscc, name="\x00\x00"), "bad_name")
        _refused(texts, lambda: _add(uscc, admin=EMPLOYEE), "not_enterprise_admin")
    with texts():
        _add(uscc)
    _refused(texts, lambda: _add(uscc), "already_member")  # said before counting: nothing is texted anyway
    assert Membership.objects.filter(status="added").count() == 1


@pytest.mark.parametrize(
    "name",
    [
        "\x00\x00",  # issue 14: accepted on SQLite, a 500 on PostgreSQL
        "陈立\x00新",
        "陈立\n新",
        "陈立\u202e新",  # a direction override
        "陈\u200b立新",  # zero-width space
        "陈" * 51,  # the column holds 50
        "陈",
        "   ",
        "",
    ],
)
def test_a_member_name_with_control_characters_or_too_long_is_refused(uscc: str, texts: TEXTS, name: str) -> None:
    assert _refused(texts, lambda: _add(uscc, name=name), "bad_name").status == 400


@pytest.mark.parametrize("phone", ["1390798000", "139079800051", "23907980005", "١٣٩٠٧٩٨٠٠٠٥", "1390798\x000005", ""])
def test_a_phone_that_is_not_eleven_digits_is_refused(uscc: str, texts: TEXTS, phone: str) -> None:
    assert _refused(texts, lambda: _add(uscc, phone=phone), "bad_phone").status == 400


def test_a_phone_typed_in_full_width_digits_or_with_separators_is_read(uscc: str, texts: TEXTS) -> None:
    with texts():
        added = _add(uscc, name=" 陈立新 ", phone="１３９ ０７９８-０００５")
    assert (added.name, added.phone_tail) == ("陈立新", "0005")
    assert Message.objects.filter(phone="13907980005").exists()


def test_a_name_with_a_private_use_character_is_kept(uscc: str, texts: TEXTS) -> None:
    # rare characters of names are still typed from private-use fonts: they are no control characters
    with texts():
        added = _add(uscc, name="陈\ue000新")
    assert added.name == "陈\ue000新"


@pytest.fixture
def request_pending(uscc: str, registered: Card, bidder: object, finance: object) -> Membership:
    from mobileca.shield.claims import claim_request_approval

    claim = claim_past_face(paid_card(bidder, finance, "tok-2"), EMPLOYEE)  # type: ignore[arg-type]
    request = claim_request_approval(ticket=claim.ticket, account=EMPLOYEE)
    assert isinstance(request, Membership) and request.status == "requested"
    return request


@pytest.mark.parametrize("reason", ["\x00", "不符\x00", "不\u202e符", "原" * 201, "  ", ""])
def test_a_reject_reason_with_control_characters_or_too_long_is_refused(
    request_pending: Membership, texts: TEXTS, reason: str
) -> None:
    refused = _refused(
        texts,
        lambda: members.membership_reject(admin_account=ADMIN, membership_id=request_pending.pk, reason=reason),
        "reason_required",
    )
    assert refused.status == 400


def test_a_reject_reason_may_have_several_lines(request_pending: Membership) -> None:
    members.membership_reject(
        admin_account=ADMIN, membership_id=request_pending.pk, reason=" 非本公司员工\r\n请联系人事 "
    )
    request_pending.refresh_from_db()
    assert (request_pending.status, request_pending.reason) == ("rejected", "非本公司员工\r\n请联系人事")


@pytest.mark.parametrize("membership_id", [0, 2**31, 2**63, 10**30])
def test_a_membership_id_that_is_no_such_row_is_not_found(uscc: str, membership_id: int) -> None:
    # issue 14: huge numbers in the path answer 404, on PostgreSQL too (no integer overflow)
    with pytest.raises(NotFound):
        members.member_remove(admin_account=ADMIN, membership_id=membership_id)
    admin = phone_login(ADMIN, "/h5/members/")
    before = _stored()
    for action in ("approve", "reject", "remove", "hand-over"):
        page = admin.post(f"/h5/members/{membership_id}/{action}/", {"reason": "x"})
        assert page.status_code == 404, (action, page.status_code)
    assert _stored() == before


def test_the_add_form_answers_a_refusal_for_hostile_input(uscc: str) -> None:
    admin = phone_login(ADMIN, "/h5/members/")
    before = _stored()
    for form in ({"name": "陈" * 5000, "phone": "9" * 5000}, {"name": "\u202e", "phone": "１"}, {}):
        assert admin.post(f"/h5/enterprises/{uscc}/members/add/", form).status_code == 400
    assert (
        admin.post(f"/h5/enterprises/{'9' * 300}/members/add/", {"name": "陈立新", "phone": "13907980005"}).status_code
        == 404
    )
    assert _stored() == before


def test_a_member_add_page_past_the_limit_explains_it(uscc: str, settings: object) -> None:
    settings.MOBILECA_RATE_LIMITS = {"member_add_phone": "0/d"}  # type: ignore[attr-defined]
    admin = phone_login(ADMIN, "/h5/members/")
    before = _stored()
    page = admin.post(f"/h5/enterprises/{uscc}/members/add/", {"name": "陈立新", "phone": "13907980005"})
    assert page.status_code == 429 and "该手机号今天收到的添加通知已达上限" in page.content.decode()
    assert _stored() == before


def test_the_admin_pages_with_nothing_signed_in_still_refuse(db: None) -> None:
    assert Client().post("/h5/members/1/remove/").status_code == 403


@pytest.mark.parametrize("check_id", ["\x00", "c" * 5000])
def test_a_face_check_id_that_cannot_exist_is_not_found(db: None, check_id: str) -> None:
    # issue 14: NUL in a lookup is a 500 on PostgreSQL; it is no check of anyone's
    from mobileca.shield.claims import face_check_finish

    with pytest.raises(NotFound):
        face_check_finish(check_id=check_id, account=ADMIN)
