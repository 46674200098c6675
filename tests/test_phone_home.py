"""The e签盾 home on the phone (issue 18): the menu (成员管理 only for admins, with its count), signing out, the short
signed expiring links of the text messages (valid, forged, expired, after the login, a claim only for its
claimant), a link in every notice, 我的证书 in plain language with the PIN rules, and wrong PINs and lock-outs in
操作记录 — written although the request is refused, without the PIN, and changing nothing else."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.cards.models import Card
from mobileca.core.clock import clock, now
from mobileca.core.errors import ApplicationError
from mobileca.shield import keyuse, links, members, pin, sms
from mobileca.shield.callers import Caller
from mobileca.shield.claims import claim_of_claimant_locked
from mobileca.shield.models import ClaimSession, Credential, KeyUseAuthorization, KeyUseStatus, OperationRecord
from tests.support.shield import (  # noqa: F401 (fixtures)
    LEGAL_REP,
    PIN,
    activated_credential,
    ca_ready,
    card,
    claim_past_face,
    member_claim_at_pin,
    paid_card,
    phone_login,
    registered,
)

ADMIN, EMPLOYEE = LEGAL_REP, "2088102000000004"  # 王建国 (the first verifier: the admin), 刘晓梅
WRONG = "246802"
LINK = re.compile(r"https?://[^/\s]+(/h5/s/[^\s]+)")


def _texts(phone: str) -> list[str]:
    from mobileca.sandboxes.sms.models import Message

    return list(Message.objects.filter(phone=phone).order_by("pk").values_list("text", flat=True))


def _link_in(text: str) -> str:
    found = LINK.search(text)
    assert found, text
    return found.group(1)


@pytest.fixture
def admin_credential(registered: Card, ca_ready: None) -> Credential:
    """王建国 verified the enterprise on the first card (its admin) and holds its credential."""
    return activated_credential(registered, ADMIN)


@pytest.fixture
def employee_request(admin_credential: Credential, bidder: User, finance: User, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """刘晓梅 claims a second card and asks the admin (who is texted)."""
    second = paid_card(bidder, finance, "tok-2")
    claim = claim_past_face(second, EMPLOYEE)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic(durable=True):
        return members.membership_request(claim=claim_of_claimant_locked(claim.ticket, EMPLOYEE), account=EMPLOYEE)


# --- the home --------------------------------------------------------------------------------------------------


def test_the_home_asks_for_the_alipay_login_when_not_signed_in(db: None) -> None:
    page = Client().get("/h5/").content.decode()
    assert "支付宝登录" in page and "/h5/login/?next=/h5/" in page
    assert 'id="home-menu"' not in page and "/h5/members/" not in page and "退出登录" not in page


def test_an_admin_sees_the_menu_with_member_management_and_its_count(employee_request: Any) -> None:
    phone = phone_login(ADMIN, "/h5/")
    page = phone.get("/h5/").content.decode()
    for item in ("我的证书", "待授权", "操作记录", "修改/重置 PIN", "王建国", "退出登录"):
        assert item in page, item
    assert 'href="/h5/credentials/#pin"' in page
    members_item = re.search(r'<a href="/h5/members/" id="menu-members">(.*?)</a>', page)
    assert members_item and "成员管理" in members_item.group(1)
    assert '<span class="count">1</span>' in members_item.group(1)  # one request waits


def test_a_member_who_is_no_admin_sees_no_member_management(employee_request: Any) -> None:
    phone = phone_login(EMPLOYEE, "/h5/")
    page = phone.get("/h5/").content.decode()
    assert "刘晓梅" in page and "我的证书" in page
    assert "成员管理" not in page and "/h5/members/" not in page


def test_signing_out_forgets_the_phone_identity(admin_credential: Credential) -> None:
    phone = phone_login(ADMIN, "/h5/")
    assert phone.get("/h5/sign-out/").status_code == 405  # a link cannot sign anyone out
    assert "退出登录" in phone.get("/h5/").content.decode()
    assert phone.post("/h5/sign-out/")["Location"] == "/h5/"
    page = phone.get("/h5/").content.decode()
    assert "支付宝登录" in page and "王建国" not in page
    assert "支付宝登录" in phone.get("/h5/credentials/").content.decode()  # the pages ask again


# --- the short links -----------------------------------------------------------------------------------------


def _path(kind: str, reference: str = "") -> str:
    return _link_in(links.link_url(kind, reference))


def test_a_link_leads_a_signed_in_phone_to_its_page(admin_credential: Credential) -> None:
    phone = phone_login(ADMIN, "/h5/")
    assert len(_path(links.MEMBERS)) < 50  # short enough for a text message
    assert phone.get(_path(links.MEMBERS))["Location"] == "/h5/members/"
    assert phone.get(_path(links.CREDENTIALS))["Location"] == "/h5/credentials/"
    assert phone.get(_path(links.HOME))["Location"] == "/h5/"
    assert phone.get(_path(links.RECORDS))["Location"] == "/h5/records/"
    assert phone.get(_path(links.AUTHORIZATION, "abcDEF-_12"))["Location"] == "/h5/authorizations/abcDEF-_12/"


def test_a_link_opened_before_the_login_leads_there_after_it(admin_credential: Credential) -> None:
    path = _path(links.MEMBERS)
    phone = Client()
    page = phone.get(path)
    assert page.status_code == 200 and "支付宝登录" in page.content.decode()
    assert f"/h5/login/?next={path.replace('/', '%2F')}" in page.content.decode()
    signed_in = phone_login(ADMIN, path)  # the Alipay login comes back to the link …
    assert signed_in.get(path)["Location"] == "/h5/members/"  # … which goes on to its page


def test_a_claim_link_leads_its_claimant_to_the_claim_and_anyone_else_home(
    admin_credential: Credential, bidder: User, finance: User
) -> None:
    claim, _ = member_claim_at_pin(paid_card(bidder, finance, "tok-2"), EMPLOYEE, admin=ADMIN)
    path = _path(links.CLAIM, str(claim.pk))
    assert phone_login(EMPLOYEE, "/h5/").get(path)["Location"] == f"/h5/claim/{claim.ticket}/"
    assert phone_login(ADMIN, "/h5/").get(path)["Location"] == "/h5/"  # the ticket is not shown to others


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # the signature altered
        lambda token: "h" + token[1:],  # another page under the members link's signature
        lambda token: token.rsplit(".", 1)[0] + ".",  # no signature
        lambda token: token.split(".")[0],  # cut short
        lambda token: "x" * 300,
        lambda token: "m.%E4%B8%AD.abc",
    ],
)
def test_a_forged_link_gets_a_clear_page_and_leads_nowhere(admin_credential: Credential, tamper: Any) -> None:
    token = _path(links.MEMBERS).removeprefix("/h5/s/")
    phone = phone_login(ADMIN, "/h5/")
    answer = phone.get("/h5/s/" + tamper(token))
    page = answer.content.decode()
    assert answer.status_code == 404 and "该链接无效" in page and "扫描二维码" in page and 'href="/h5/"' in page


def test_an_expired_link_gets_a_clear_page(admin_credential: Credential, settings: Any) -> None:
    path = _path(links.MEMBERS)
    clock.set(now() + timedelta(days=6, hours=23))
    assert phone_login(ADMIN, "/h5/").get(path)["Location"] == "/h5/members/"  # within the default 7 days
    clock.set(now() + timedelta(hours=2))
    answer = phone_login(ADMIN, "/h5/").get(path)
    assert answer.status_code == 410 and "该链接已过期" in answer.content.decode()
    assert "扫描二维码" in answer.content.decode()
    settings.MOBILECA_SHORT_LINK_DAYS = 30  # the lifetime is a setting
    assert phone_login(ADMIN, "/h5/").get(path)["Location"] == "/h5/members/"


def test_a_link_for_a_page_the_service_does_not_have_is_not_made() -> None:
    with pytest.raises(ValueError):
        links.link_token("z")
    with pytest.raises(ValueError):
        links.link_token(links.AUTHORIZATION, "../admin")
    with pytest.raises(ValueError):
        links.link_token(links.CLAIM, "")


# --- a link in every notice --------------------------------------------------------------------------------------


def test_the_admins_text_links_to_member_management_and_the_employees_to_the_claim(
    employee_request: Any, django_capture_on_commit_callbacks: Any
) -> None:
    (asked,) = [text for text in _texts("13907980001") if "申请加入" in text]
    assert "成员管理" in asked
    admin = phone_login(ADMIN, "/h5/")
    assert admin.get(_link_in(asked))["Location"] == "/h5/members/"
    with django_capture_on_commit_callbacks(execute=True):
        members.membership_approve(admin_account=ADMIN, membership_id=employee_request.pk)
    (added,) = [text for text in _texts("13907980004") if "添加成功" in text]
    claim = ClaimSession.objects.get(pk=employee_request.claim_id)
    assert phone_login(EMPLOYEE, "/h5/").get(_link_in(added))["Location"] == f"/h5/claim/{claim.ticket}/"


def test_a_member_added_by_name_and_phone_gets_a_link_home(
    admin_credential: Credential, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        members.member_add(
            admin_account=ADMIN, uscc=admin_credential.enterprise_uscc, name="陈立新", phone="13907980005"
        )
    (added,) = _texts("13907980005")
    assert "添加成功" in added and "/h5/s/h." in added


def test_the_pin_change_text_links_to_my_certificates(
    admin_credential: Credential, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        pin.pin_change(
            account=ADMIN,
            service_no=admin_credential.service_no,
            old_pin=PIN,
            new_pin="975310",
            new_again="975310",
            address="127.0.0.1",
        )
    (changed,) = [text for text in _texts("13907980001") if "PIN 码已于" in text]
    assert "975310" not in changed
    assert phone_login(ADMIN, "/h5/").get(_link_in(changed))["Location"] == "/h5/credentials/"


def test_the_expiry_reminder_links_to_my_certificates(
    admin_credential: Credential, django_capture_on_commit_callbacks: Any
) -> None:
    from mobileca.shield.renewal import expiry_reminders_send

    clock.set(admin_credential.expires_at - timedelta(days=6))
    with django_capture_on_commit_callbacks(execute=True):
        assert expiry_reminders_send() == 1
    (reminder,) = [text for text in _texts("13907980001") if "到期" in text]
    assert "/h5/s/c." in reminder


def test_a_notice_without_a_page_of_its_own_links_home(db: None, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        sms.notify(phone="13907980009", text="【e签盾】测试通知")
    (text,) = _texts("13907980009")
    assert text.startswith("【e签盾】测试通知 ") and "/h5/s/h." in text and len(text) < 120


# --- 我的证书 ------------------------------------------------------------------------------------------------------


def test_my_certificates_in_plain_language_with_the_pin_rules(admin_credential: Credential) -> None:
    page = phone_login(ADMIN, "/h5/").get("/h5/credentials/").content.decode()
    claim = admin_credential.claim
    for text in (
        admin_credential.service_no,
        claim.enterprise_name,
        claim.enterprise_uscc,
        "王建国",
        "签名证书",
        "加密证书",
        "有效期",
        "正常",
        admin_credential.sign_serial,
        admin_credential.encrypt_serial,
    ):
        assert text in page, text
    assert "2.5.4." not in page and "CN=" not in page  # no DNs, no dotted OIDs
    assert 'id="pin"' in page and "6 位数字" in page and "123456" in page and "654321" in page and "111111" in page
    assert 'class="secondary" type="submit">忘记 PIN 码' in page  # a styled button


def test_my_certificates_say_when_the_pin_is_locked(admin_credential: Credential) -> None:
    Credential.objects.filter(pk=admin_credential.pk).update(locked_until=now() + timedelta(minutes=15), pin_failures=5)
    page = phone_login(ADMIN, "/h5/").get("/h5/credentials/").content.decode()
    assert "已锁定至" in page


# --- wrong PINs and lock-outs in 操作记录 ------------------------------------------------------------------------


def _state(credential: Credential) -> tuple[object, ...]:
    credential.refresh_from_db()
    return credential.pin_hash, credential.pin_changed_at


def test_a_wrong_old_pin_is_recorded_and_changes_nothing(admin_credential: Credential) -> None:
    phone = phone_login(ADMIN, "/h5/")
    before = _state(admin_credential)
    path = f"/h5/credentials/{admin_credential.service_no}/pin/change/"
    wrong = phone.post(path, {"old_pin": WRONG, "pin": "975310", "pin_again": "975310"})
    assert wrong.status_code == 400 and "PIN 码错误" in wrong.content.decode()
    assert _state(admin_credential) == before  # the PIN is not changed
    (record,) = OperationRecord.objects.filter(action="pin_failed")
    assert (record.account, record.credential_id, record.address) == (ADMIN, admin_credential.pk, "127.0.0.1")
    assert record.purpose == "修改 PIN 码" and record.platform == admin_credential.claim.platform
    assert WRONG not in str(record.audit_event.data) and PIN not in str(record.audit_event.data)
    assert not OperationRecord.objects.filter(action__in=["pin_change", "pin_locked"]).exists()
    page = phone.get("/h5/records/").content.decode()
    row = re.search(r'<tr class="record alert" data-action="pin_failed".*?</tr>', page, re.S)
    assert row and "PIN 码错误" in row.group(0) and "127.0.0.1" in row.group(0)


def test_a_pin_that_is_not_six_digits_is_not_recorded_as_a_wrong_one(admin_credential: Credential) -> None:
    phone = phone_login(ADMIN, "/h5/")
    path = f"/h5/credentials/{admin_credential.service_no}/pin/change/"
    assert phone.post(path, {"old_pin": "12ab", "pin": "975310", "pin_again": "975310"}).status_code == 400
    assert not OperationRecord.objects.filter(action__in=["pin_failed", "pin_locked"]).exists()


def test_the_fifth_wrong_pin_on_the_phone_is_recorded_as_a_lock_out(admin_credential: Credential) -> None:
    """The authorisation page's wrong PINs: each recorded (platform, purpose, address), the request still waits."""
    phone = phone_login(ADMIN, "/h5/")
    pending = []
    for number in range(5):
        ask = keyuse.authorize(
            caller=Caller(kind="token", ident=ADMIN),
            credential_id=admin_credential.service_no,
            operation="sign",
            hashes=["n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="],
            pin=None,
            purpose=f"第 {number} 个标书",
        )
        pending.append(ask.public_ref)
    for number, ref in enumerate(pending):
        answer = phone.post(f"/h5/authorizations/{ref}/", {"pin": WRONG, "decision": "approve"})
        assert answer.status_code == (423 if number == 4 else 400), answer.status_code
    assert set(KeyUseAuthorization.objects.values_list("status", flat=True)) == {KeyUseStatus.PENDING}
    assert OperationRecord.objects.filter(action="pin_failed", credential=admin_credential).count() == 5
    (locked,) = OperationRecord.objects.filter(action="pin_locked")
    assert locked.credential_id == admin_credential.pk
    admin_credential.refresh_from_db()
    assert admin_credential.locked_until is not None and admin_credential.pin_failures == 5
    # a further try while locked is refused and not counted: nothing more is recorded
    assert phone.post(f"/h5/authorizations/{pending[0]}/", {"pin": PIN, "decision": "approve"}).status_code == 423
    assert OperationRecord.objects.filter(action__in=["pin_failed", "pin_locked"]).count() == 6
    page = phone.get("/h5/records/").content.decode()
    assert page.count('data-action="pin_failed"') == 5 and "证书锁定" in page


def test_a_right_pin_writes_no_wrong_pin_record(admin_credential: Credential) -> None:
    credential = Credential.objects.select_for_update()
    with transaction.atomic():
        assert pin.pin_check(credential.get(pk=admin_credential.pk), PIN) is None
    assert not OperationRecord.objects.filter(action__in=["pin_failed", "pin_locked"]).exists()
    assert not AuditEvent.objects.filter(action="operation.pin_failed").exists()


def test_a_wrong_pin_record_survives_the_refusal(admin_credential: Credential) -> None:
    """The refusal is raised after the commit: the record (and the count) stay although the change is refused."""
    with pytest.raises(ApplicationError):
        pin.pin_change(
            account=ADMIN,
            service_no=admin_credential.service_no,
            old_pin=WRONG,
            new_pin="975310",
            new_again="975310",
            address="10.0.0.8",
        )
    assert OperationRecord.objects.get(action="pin_failed").address == "10.0.0.8"
    assert Credential.objects.get(pk=admin_credential.pk).pin_failures == 1
