"""Employees and the enterprise admin (R3.8, R3.9): 「向管理员发送审批申请」, 「成员管理」 (approve, reject with a
reason, add by name and phone, remove, hand over the admin role), 「添加成功」, and the refusals around them."""

from __future__ import annotations

import itertools

import pytest
from django.test import Client

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.cards.models import Card
from mobileca.core.errors import InvalidTransition
from mobileca.shield.models import (
    ClaimSession,
    Credential,
    Membership,
    ShieldEnterprise,
)
from tests.support.shield import (  # noqa: F401 (fixtures)
    _legal_rep_face,
    _pay,
    _play_face,
    _renew,
    _renewal_ticket,
    _scan_and_login,
    _ticket_of,
    ca_ready,
    card,
    claim_at_pin,
    claim_past_face,
    paid_card,
    phone_login,
    registered,
)

ADMIN, EMPLOYEE, ADDED = "2088102000000001", "2088102000000004", "2088102000000005"  # 王建国, 刘晓梅, 陈立新
PIN = {"pin": "135790", "pin_again": "135790"}


def _after_face(bidder_client: Client, claimed: Card, user_id: str) -> tuple[Client, str]:
    """``user_id``'s claim of the card through service, (enterprise,) agreements and a passed face check (made
    through the services), and their phone signed in on its page."""
    claim = claim_past_face(claimed, user_id)
    return phone_login(user_id, f"/h5/claim/{claim.ticket}/"), claim.ticket


def _members_login(user_id: str) -> Client:
    """The admin's own H5 login for 「成员管理」 (no claim involved)."""
    admin = Client()
    assert "支付宝登录" in admin.get("/h5/members/").content.decode()
    to_provider = admin.get("/h5/login/")
    back = admin.post(to_provider["Location"].removeprefix("http://testserver"), {"user_id": user_id})
    landed = admin.get(back["Location"].removeprefix("http://testserver"))
    assert landed.status_code == 302 and landed["Location"] == "/h5/members/"
    return admin


@pytest.fixture
def admin_verified(registered: Card, ca_ready: None) -> Card:
    """王建国, the legal representative, verified the enterprise on the first card: he is its admin."""
    claim_at_pin(registered, ADMIN)
    assert ShieldEnterprise.objects.get().admin_account == ADMIN
    return registered


@pytest.fixture
def second_card(admin_verified: Card, bidder: User, finance: User) -> Card:
    return paid_card(bidder, finance, "tok-2")


@pytest.fixture
def texts(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """Run what a block leaves for after its commit (the notices go out then)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _sms(phone: str) -> list[str]:
    from mobileca.sandboxes.sms.models import Message

    return list(Message.objects.filter(phone=phone).order_by("pk").values_list("text", flat=True))


def _snapshot() -> list[tuple[object, ...]]:
    return [
        *Membership.objects.order_by("pk").values_list(),
        *ShieldEnterprise.objects.order_by("pk").values_list(),
        *ClaimSession.objects.order_by("pk").values_list(),
        *Credential.objects.order_by("pk").values_list("pk", "service_no"),
    ]


def test_the_first_verifier_is_the_admin_and_a_member(admin_verified: Card) -> None:
    # R3.9
    membership = Membership.objects.get()
    assert (membership.account, membership.role, membership.status) == (ADMIN, "admin", "active")
    assert AuditEvent.objects.filter(action="member.joined").count() == 1


def test_an_employee_asks_the_admin_who_approves_then_the_employee_sets_the_pin(
    bidder_client: Client, second_card: Card, texts
) -> None:
    # R3.8: 「向管理员发送审批申请」 → 「成员管理」 → 「添加成功」 (SMS and the H5 page) → PIN → 开通成功
    phone, ticket = _after_face(bidder_client, second_card, EMPLOYEE)
    page = phone.get(f"/h5/claim/{ticket}/").content.decode()
    assert "等待管理员审批" in page and "向管理员发送审批申请" in page
    assert ClaimSession.objects.get(ticket=ticket).step == "approval"

    with texts():
        phone.post(f"/h5/claim/{ticket}/approval/")
    phone.post(f"/h5/claim/{ticket}/approval/")  # twice: still one request
    request = Membership.objects.get(status="requested")
    assert (request.account, request.name, request.phone_tail) == (EMPLOYEE, "刘晓梅", "0004")
    assert "已发送审批申请" in phone.get(f"/h5/claim/{ticket}/").content.decode()
    assert any("刘晓梅" in text and "成员管理" in text for text in _sms("13907980001"))  # the admin is told

    admin = _members_login(ADMIN)
    members_page = admin.get("/h5/members/").content.decode()
    assert "成员管理" in members_page and "刘晓梅" in members_page and "待审批申请" in members_page
    with texts():
        assert admin.post(f"/h5/members/{request.pk}/approve/").status_code == 302

    request.refresh_from_db()
    assert (request.status, request.decided_by) == ("active", ADMIN)
    assert any("添加成功" in text for text in _sms("13907980004"))
    page = phone.get(f"/h5/claim/{ticket}/").content.decode()
    assert "添加成功" in page and "设置 PIN 码" in page
    assert phone.post(f"/h5/claim/{ticket}/pin/", PIN).status_code == 302
    credential = Credential.objects.get(account=EMPLOYEE)
    assert ClaimSession.objects.get(ticket=ticket).status == "activated" and credential.service_no
    assert admin.post(f"/h5/members/{request.pk}/approve/").status_code == 409  # decided once


def test_a_rejected_employee_sees_the_reason_and_cannot_set_a_pin(bidder_client: Client, second_card: Card) -> None:
    phone, ticket = _after_face(bidder_client, second_card, EMPLOYEE)
    phone.post(f"/h5/claim/{ticket}/approval/")
    request = Membership.objects.get(status="requested")
    admin = _members_login(ADMIN)

    before = _snapshot()
    no_reason = admin.post(f"/h5/members/{request.pk}/reject/", {"reason": "  "})
    assert no_reason.status_code == 400 and "拒绝原因" in no_reason.content.decode() and _snapshot() == before

    admin.post(f"/h5/members/{request.pk}/reject/", {"reason": "非本公司员工"})
    request.refresh_from_db()
    assert (request.status, request.reason) == ("rejected", "非本公司员工")
    assert "管理员已拒绝您的申请：非本公司员工" in phone.get(f"/h5/claim/{ticket}/").content.decode()

    before = _snapshot()
    refused = phone.post(f"/h5/claim/{ticket}/pin/", PIN)
    assert refused.status_code == 409 and _snapshot() == before
    assert not Credential.objects.filter(account=EMPLOYEE).exists()

    phone.post(f"/h5/claim/{ticket}/approval/")  # they may ask again
    assert Membership.objects.filter(account=EMPLOYEE, status="requested").count() == 1


def test_the_admin_adds_a_member_by_name_and_phone_who_goes_straight_to_the_pin(
    bidder_client: Client, second_card: Card, texts
) -> None:
    admin = _members_login(ADMIN)
    uscc = second_card.enterprise.uscc
    bad = admin.post(f"/h5/enterprises/{uscc}/members/add/", {"name": "陈立新", "phone": "1390798"})
    assert bad.status_code == 400 and Membership.objects.count() == 1
    with texts():
        admin.post(f"/h5/enterprises/{uscc}/members/add/", {"name": "陈立新", "phone": "139 0798 0005"})
    added = Membership.objects.get(status="added")
    assert (added.name, added.phone_tail, added.account) == ("陈立新", "0005", "")
    assert "13907980005" not in str(list(Membership.objects.values_list()))  # only a digest and the tail
    assert any("添加成功" in text for text in _sms("13907980005"))
    again = admin.post(f"/h5/enterprises/{uscc}/members/add/", {"name": "陈立新", "phone": "13907980005"})
    assert again.status_code == 409

    phone, ticket = _after_face(bidder_client, second_card, ADDED)
    assert ClaimSession.objects.get(ticket=ticket).step == "pin"
    added.refresh_from_db()
    assert (added.status, added.account) == ("active", ADDED)
    assert "添加成功" in phone.get(f"/h5/claim/{ticket}/").content.decode()
    phone.post(f"/h5/claim/{ticket}/pin/", PIN)
    assert ClaimSession.objects.get(ticket=ticket).status == "activated"


def test_an_added_member_must_match_name_and_phone(bidder_client: Client, second_card: Card) -> None:
    admin = _members_login(ADMIN)
    uscc = second_card.enterprise.uscc
    admin.post(f"/h5/enterprises/{uscc}/members/add/", {"name": "陈立", "phone": "13907980005"})  # wrong name
    _, ticket = _after_face(bidder_client, second_card, ADDED)
    assert ClaimSession.objects.get(ticket=ticket).step == "approval"
    assert Membership.objects.get(status="added").account == ""


def test_adding_someone_whose_request_is_pending_approves_it(bidder_client: Client, second_card: Card) -> None:
    phone, ticket = _after_face(bidder_client, second_card, EMPLOYEE)
    phone.post(f"/h5/claim/{ticket}/approval/")
    admin = _members_login(ADMIN)
    admin.post(
        f"/h5/enterprises/{second_card.enterprise.uscc}/members/add/", {"name": "刘晓梅", "phone": "13907980004"}
    )
    assert Membership.objects.get(account=EMPLOYEE).status == "active"
    assert ClaimSession.objects.get(ticket=ticket).step == "pin"


def test_a_removed_members_pending_claim_cannot_activate(bidder_client: Client, second_card: Card) -> None:
    phone, ticket = _after_face(bidder_client, second_card, EMPLOYEE)
    phone.post(f"/h5/claim/{ticket}/approval/")
    admin = _members_login(ADMIN)
    request = Membership.objects.get(status="requested")
    admin.post(f"/h5/members/{request.pk}/approve/")
    assert ClaimSession.objects.get(ticket=ticket).step == "pin"

    admin.post(f"/h5/members/{request.pk}/remove/")
    request.refresh_from_db()
    assert request.status == "removed"
    assert ClaimSession.objects.get(ticket=ticket).step == "approval"
    assert "您已被管理员移出该企业" in phone.get(f"/h5/claim/{ticket}/").content.decode()
    before = _snapshot()
    refused = phone.post(f"/h5/claim/{ticket}/pin/", PIN)
    assert refused.status_code == 409 and _snapshot() == before

    # even at the PIN step (say, a removal racing the page), activation checks membership under the lock
    ClaimSession.objects.filter(ticket=ticket).update(step="pin")
    before = _snapshot()
    refused = phone.post(f"/h5/claim/{ticket}/pin/", PIN)
    assert refused.status_code == 403 and "不是该企业的成员" in refused.content.decode() and _snapshot() == before


def test_removing_an_activated_member_revokes_their_certificates(bidder_client: Client, second_card: Card) -> None:
    from mobileca.ca.models import IssuedCertificate

    phone, ticket = _after_face(bidder_client, second_card, EMPLOYEE)
    phone.post(f"/h5/claim/{ticket}/approval/")
    admin = _members_login(ADMIN)
    membership = Membership.objects.get(status="requested")
    admin.post(f"/h5/members/{membership.pk}/approve/")
    phone.post(f"/h5/claim/{ticket}/pin/", PIN)
    credential = Credential.objects.get(account=EMPLOYEE)

    admin.post(f"/h5/members/{membership.pk}/remove/")
    owned = IssuedCertificate.objects.filter(owner_id=f"credential:{credential.service_no}")
    assert owned.count() == 2 and set(owned.values_list("status", flat=True)) == {"revoked"}
    assert set(owned.values_list("revocation_reason", flat=True)) == {"affiliation_changed"}


def test_the_admin_cannot_remove_themselves_and_hands_over_to_a_claimed_member(
    bidder_client: Client, second_card: Card
) -> None:
    admin = _members_login(ADMIN)
    own = Membership.objects.get(account=ADMIN)
    before = _snapshot()
    assert admin.post(f"/h5/members/{own.pk}/remove/").status_code == 409 and _snapshot() == before

    uscc = second_card.enterprise.uscc
    admin.post(f"/h5/enterprises/{uscc}/members/add/", {"name": "陈立新", "phone": "13907980005"})
    unclaimed = Membership.objects.get(status="added")
    before = _snapshot()
    assert admin.post(f"/h5/members/{unclaimed.pk}/hand-over/").status_code == 409 and _snapshot() == before

    _after_face(bidder_client, second_card, ADDED)  # 陈立新 claims: now a member with a phone identity
    assert admin.post(f"/h5/members/{unclaimed.pk}/hand-over/").status_code == 302
    enterprise = ShieldEnterprise.objects.get()
    assert enterprise.admin_account == ADDED
    roles = dict(Membership.objects.filter(status="active").values_list("account", "role"))
    assert roles == {ADMIN: "member", ADDED: "admin"}
    event = AuditEvent.objects.get(action="enterprise.admin_handed_over")
    assert event.data == {"from": ADMIN, "to": ADDED}
    # the former admin no longer administers it
    assert "您不是任何企业在 e签盾 的管理员" in admin.get("/h5/members/").content.decode()
    before = _snapshot()
    assert admin.post(f"/h5/members/{own.pk}/remove/").status_code == 404 and _snapshot() == before


def test_an_admin_of_one_enterprise_cannot_touch_another_enterprises_members(
    bidder_client: Client, second_card: Card, other_bidder: User, finance: User
) -> None:
    # §8: enterprise A's admin approving, rejecting, adding, removing or handing over at enterprise B
    from mobileca.sandboxes.registry.models import RegisteredEnterprise

    phone, ticket = _after_face(bidder_client, second_card, EMPLOYEE)
    phone.post(f"/h5/claim/{ticket}/approval/")  # a request at enterprise A
    request_a = Membership.objects.get(status="requested")

    other = other_bidder.enterprise
    assert other is not None
    RegisteredEnterprise.objects.create(
        uscc=other.uscc,
        name=other.name,
        legal_representative="李南哲",
        legal_representative_id="360102198505050019",
        legal_representative_phone="13907980002",
    )
    other_client = Client()
    other_client.force_login(other_bidder)
    other_card = paid_card(other_bidder, finance, "tok-b")
    b_phone, b_ticket = _after_face(other_client, other_card, "2088102000000002")  # 李南哲 verifies B
    _legal_rep_face(b_phone, b_ticket)
    admin_b = _members_login("2088102000000002")
    assert "刘晓梅" not in admin_b.get("/h5/members/").content.decode()  # B's admin does not see A's requests

    before = _snapshot()
    for action in ("approve", "remove", "hand-over"):
        assert admin_b.post(f"/h5/members/{request_a.pk}/{action}/").status_code == 404
    assert admin_b.post(f"/h5/members/{request_a.pk}/reject/", {"reason": "x"}).status_code == 404
    added = admin_b.post(
        f"/h5/enterprises/{second_card.enterprise.uscc}/members/add/", {"name": "某某", "phone": "13900000000"}
    )
    assert added.status_code == 404
    # and an ordinary member of A (not its admin) cannot decide either
    stranger = _members_login(EMPLOYEE)
    assert stranger.post(f"/h5/members/{request_a.pk}/approve/").status_code == 404
    assert _snapshot() == before

    # a member of A is no one at B: claiming B's card, she must ask B's admin, and cannot set a PIN meanwhile
    _members_login(ADMIN).post(f"/h5/members/{request_a.pk}/approve/")
    b_card = paid_card(other_bidder, finance, "tok-b2")
    employee_phone, employee_ticket = _after_face(other_client, b_card, EMPLOYEE)
    assert ClaimSession.objects.get(ticket=employee_ticket).step == "approval"
    before = _snapshot()
    assert employee_phone.post(f"/h5/claim/{employee_ticket}/pin/", PIN).status_code == 409
    assert _snapshot() == before


def test_admin_pages_need_the_phone_login(db: None) -> None:
    assert Client().post("/h5/members/1/approve/").status_code == 403
    assert "请使用管理员本人的支付宝账户登录" in Client().get("/h5/members/").content.decode()


MEMBERSHIP_EDGES = {
    ("requested", "active"),
    ("requested", "rejected"),
    ("added", "active"),
    ("added", "removed"),
    ("active", "removed"),
}
TRANSFER_EDGES = {("sending", "pending"), ("sending", "failed"), ("pending", "verified"), ("pending", "failed")}


DEVICE_GRANT_EDGES = {("pending", "allowed"), ("pending", "denied"), ("allowed", "used")}
FACE_CHECK_EDGES = {("pending", "passed"), ("pending", "failed")}
KEY_USE_EDGES = {
    ("pending", "authorized"),
    ("pending", "refused"),
    ("pending", "expired"),
    ("authorized", "used"),
    ("authorized", "expired"),
}


def test_every_status_moves_only_along_its_edges_through_its_one_writer(registered: Card, ca_ready: None) -> None:
    # issue 13: each status field has one writer; an edge not in its table is refused and the row stays as it was
    from mobileca.core.clock import now
    from mobileca.shield import transitions
    from mobileca.shield.models import DeviceGrant, FaceCheck, ForwardTransfer, KeyUseAuthorization
    from tests.support.shield import activated_credential

    credential = activated_credential(registered, ADMIN)
    claim, enterprise, moment = credential.claim, ShieldEnterprise.objects.get(), now()
    cases = [
        (
            Membership.objects.create(enterprise=enterprise, name="甲", status="requested", created_at=moment),
            "status",
            MEMBERSHIP_EDGES,
            transitions.membership_move,
        ),
        (
            ForwardTransfer.objects.create(
                claim=claim, bank_name="b", account_name="a", account_no_tail="1", amount_digest="x",
                created_at=moment, expires_at=moment,
            ),
            "status",
            TRANSFER_EDGES,
            transitions.transfer_move,
        ),
        (
            DeviceGrant.objects.create(
                device_code_digest="d", user_code="BCDF-GHJK", client_name="t", created_at=moment, expires_at=moment
            ),
            "status",
            DEVICE_GRANT_EDGES,
            transitions.device_grant_move,
        ),
        (
            FaceCheck.objects.create(claim=claim, account=ADMIN, check_id="c", nonce="n", created_at=moment),
            "outcome",
            FACE_CHECK_EDGES,
            transitions.face_check_move,
        ),
        (
            KeyUseAuthorization.objects.create(
                credential=credential, operation="sign", hashes=[], platform="p", requested_by="t", public_ref="r",
                handle_digest="h", created_at=moment, request_expires_at=moment,
            ),
            "status",
            KEY_USE_EDGES,
            transitions.authorization_move,
        ),
    ]  # fmt: skip
    for row, field, allowed, move in cases:
        states = [value for value, _label in type(row)._meta.get_field(field).choices]
        stored = type(row).objects.filter(pk=row.pk)
        for current, target in itertools.product(states, repeat=2):
            stored.update(**{field: current})  # given (test set-up only)
            row.refresh_from_db()
            if (current, target) in allowed:
                move(row, target)
                assert stored.values_list(field, flat=True).get() == target
            else:
                with pytest.raises(InvalidTransition):
                    move(row, target)
                assert stored.values_list(field, flat=True).get() == current, (type(row).__name__, current, target)


def test_an_approval_moves_every_waiting_claim_of_that_person(
    bidder_client: Client, second_card: Card, bidder: User, finance: User
) -> None:
    third_card = paid_card(bidder, finance, "tok-3")
    phone, ticket = _after_face(bidder_client, second_card, EMPLOYEE)
    _, other_ticket = _after_face(bidder_client, third_card, EMPLOYEE)
    phone.post(f"/h5/claim/{ticket}/approval/")
    admin = _members_login(ADMIN)
    admin.post(f"/h5/members/{Membership.objects.get(status='requested').pk}/approve/")
    assert {ClaimSession.objects.get(ticket=t).step for t in (ticket, other_ticket)} == {"pin"}


def test_a_removed_member_cannot_renew_their_certificate(
    bidder_client: Client, second_card: Card, bidder: User, finance: User
) -> None:
    phone, ticket = _after_face(bidder_client, second_card, EMPLOYEE)
    phone.post(f"/h5/claim/{ticket}/approval/")
    admin = _members_login(ADMIN)
    membership = Membership.objects.get(status="requested")
    admin.post(f"/h5/members/{membership.pk}/approve/")
    phone.post(f"/h5/claim/{ticket}/pin/", PIN)
    bidder_client.get(f"/ca/cards/{second_card.cert_id}/claim/status/")
    second_card.refresh_from_db()
    admin.post(f"/h5/members/{membership.pk}/remove/")
    _pay(_renew(bidder_client, second_card), finance)
    renewal_ticket = _renewal_ticket(bidder_client, second_card)
    renewing = Client()
    _scan_and_login(renewing, renewal_ticket, EMPLOYEE)
    credential = Credential.objects.get(account=EMPLOYEE)
    refused = renewing.post(f"/h5/claim/{renewal_ticket}/renewal/", {"pin": "135790"})
    assert refused.status_code == 403 and "不是该企业的成员" in refused.content.decode()
    assert Credential.objects.get(pk=credential.pk).sign_serial == credential.sign_serial


CLAIM_STEP_EDGES = {
    ("service", "enterprise"),
    ("service", "agreement"),
    ("service", "renewal"),
    ("enterprise", "agreement"),
    ("agreement", "face"),
    ("face", "enterprise_verify"),
    ("face", "pin"),
    ("face", "approval"),
    ("enterprise_verify", "pin"),
    ("approval", "pin"),
    ("pin", "approval"),  # the member was removed before setting the PIN
    ("pin", "done"),
    ("renewal", "done"),
}


def test_claim_steps_move_only_along_their_edges_through_the_one_writer(card: Card) -> None:
    # issue 13: every step change goes through transitions.claim_move; anything else is refused and nothing changes
    from mobileca.core.errors import Conflict
    from mobileca.shield.models import ClaimStep
    from mobileca.shield.transitions import claim_move
    from tests.support.shield import bound_claim

    claim = bound_claim(card, ADMIN)
    rows = ClaimSession.objects.filter(pk=claim.pk)
    for current, target in itertools.product([step.value for step in ClaimStep], repeat=2):
        if current == target:
            continue
        rows.update(step=current)  # given (test set-up only)
        claim.refresh_from_db()
        if (current, target) in CLAIM_STEP_EDGES:
            claim_move(claim, step=target)
            assert rows.get().step == target
        else:
            with pytest.raises(InvalidTransition):
                claim_move(claim, step=target)
            assert rows.get().step == current, (current, target)
    rows.update(step="agreement")
    claim.refresh_from_db()
    with pytest.raises(Conflict) as moved_on:  # a page of an earlier step, submitted again
        claim_move(claim, step="face", expected="service")
    assert moved_on.value.code == "wrong_step" and rows.get().step == "agreement"
    with pytest.raises(InvalidTransition):  # a claim is never un-bound, and there is no cancelled claim any more
        claim_move(claim, status="waiting")
    assert rows.get().status == "bound"
