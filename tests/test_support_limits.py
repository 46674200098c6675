"""Issue 14: 「在线留言」 was unbounded (any user could fill the support queue and the database). Messages are now
counted per user and per enterprise (``core.limits``) and bounded in length and content; a refused message is not
stored."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from mobileca.accounts.models import Enterprise, User
from mobileca.audit.models import AuditEvent
from mobileca.notices.models import SupportRequest
from mobileca.notices.services import SUPPORT_RATE_PER_USER
from tests.factories import UserFactory
from tests.support.platform import login

pytestmark = pytest.mark.django_db(transaction=True)  # the limits count outside any transaction, as in production


def _ask(client: Client, n: int = 0, **changes: str) -> Any:
    return client.post("/help/contact/", {"subject": f"发票问题 {n}", "message": "请问发票何时开具？", **changes})


def _stored() -> tuple[int, int]:
    return SupportRequest.objects.count(), AuditEvent.objects.count()


def test_one_user_may_leave_a_few_messages_an_hour_then_a_clear_429(bidder_client: Client) -> None:
    """Issue 14 (support messages unbounded): the sixth message in an hour is refused, with a message and
    Retry-After, and not stored."""
    allowed = int(SUPPORT_RATE_PER_USER.split("/")[0])
    for n in range(allowed):
        assert _ask(bidder_client, n).status_code == 302
    before = _stored()
    refused = _ask(bidder_client, 99)
    assert refused.status_code == 429
    assert "留言过于频繁" in refused.content.decode()
    assert int(refused.headers["Retry-After"]) > 0
    assert _stored() == before


def test_an_enterprises_users_together_are_limited_too(enterprise: Enterprise, settings: Any) -> None:
    settings.MOBILECA_RATE_LIMITS = {"support_request_enterprise": "3/d"}
    colleagues = [login(Client(), UserFactory(enterprise=enterprise)) for _ in range(4)]
    for n, client in enumerate(colleagues[:3]):
        assert _ask(client, n).status_code == 302
    before = _stored()
    refused = _ask(colleagues[3], 3)
    assert refused.status_code == 429 and "本企业的留言已达上限" in refused.content.decode()
    assert _stored() == before
    outsider = login(Client(), UserFactory())  # another enterprise is not held back by this one
    assert _ask(outsider, 4).status_code == 302


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": "题" * 101},
        {"message": "字" * 2001},
        {"subject": "   "},
        {"message": ""},
        {"phone": "1" * 21},
        {"phone": "138<script>"},
        {"phone": "٣٣٣"},
    ],
)
def test_bad_messages_are_clear_400s_and_do_not_count(bidder_client: Client, changes: dict[str, str]) -> None:
    before = _stored()
    for _ in range(int(SUPPORT_RATE_PER_USER.split("/")[0]) + 1):
        answer = _ask(bidder_client, **changes)
        assert answer.status_code == 400
        assert "error-message" in answer.content.decode()
    assert _stored() == before
    assert _ask(bidder_client).status_code == 302  # the refused forms did not use up the user's messages


def test_a_nul_is_refused_before_the_view(bidder_client: Client) -> None:
    before = _stored()
    assert _ask(bidder_client, message="a\x00b").status_code == 400
    assert _stored() == before


def test_full_width_phone_digits_are_read_as_ascii(bidder_client: Client, bidder: User) -> None:
    assert _ask(bidder_client, phone="１３９０７９８０００１").status_code == 302
    assert SupportRequest.objects.get().phone == "13907980001"


@pytest.mark.parametrize(
    "form, status",
    [
        ({"answer": "答" * 2001}, 400),
        ({"answer": "  "}, 400),
        ({"request_id": "abc"}, 400),
        ({"request_id": "9" * 30}, 404),
        ({"request_id": "9" * 5000}, 400),
        ({"request_id": "-1"}, 404),
    ],
)
def test_the_back_office_answer_refuses_bad_input_clearly(
    bidder_client: Client, form: dict[str, str], status: int
) -> None:
    from django.contrib.auth.models import Permission

    assert _ask(bidder_client).status_code == 302
    asked = SupportRequest.objects.get()
    operator = UserFactory(enterprise=None, is_staff=True)
    operator.user_permissions.add(Permission.objects.get(codename="support_lookup"))
    before = _stored()
    answer = login(Client(), operator).post(
        "/backoffice/support/requests/", {"request_id": str(asked.pk), "answer": "已开具", **form}
    )
    assert answer.status_code == status
    assert _stored() == before
    asked.refresh_from_db()
    assert asked.answered_at is None and asked.answer == ""
