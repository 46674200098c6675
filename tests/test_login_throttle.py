"""Login throttling with django-axes (issue 14, "Limits on what anyone can repeat"): per account and per address,
the right password refused while locked, every attempt recorded, a Chinese message, operators unlock with axes'
management commands."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from mobileca.accounts.models import User
from tests.factories import PASSWORD

LOGIN = "accounts:login"
ATTACKER = "203.0.113.7"
ELSEWHERE = "198.51.100.20"


def attempt(client: Client, username: str, password: str, address: str = ATTACKER):
    return client.post(reverse(LOGIN), {"username": username, "password": password}, REMOTE_ADDR=address)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.django_db
def test_thirty_wrong_passwords_then_the_right_one_is_refused(client: Client, bidder: User, settings) -> None:
    """issue 14: 30 wrong passwords in a row, then the right one logged in; now it is refused while locked, with a
    Chinese message, and each attempt is recorded (the password never)."""
    for number in range(30):
        response = attempt(client, bidder.username, f"wrong-{number}")
        assert not logged_in(client)
    assert response.status_code == 429

    response = attempt(client, bidder.username, PASSWORD)
    assert response.status_code == 429
    assert not logged_in(client)
    page = response.content.decode()
    assert "登录失败次数过多" in page and f"{settings.AXES_COOLOFF_TIME.seconds // 60} 分钟" in page
    assert "Account locked" not in page
    assert response["Retry-After"] == str(int(settings.AXES_COOLOFF_TIME.total_seconds()))

    records = AccessFailureLog.objects.filter(username=bidder.username, ip_address=ATTACKER)
    assert records.count() == 31  # every attempt, the refused right password included
    assert records.filter(locked_out=True).count() == 31 - settings.AXES_FAILURE_LIMIT + 1
    stored = AccessAttempt.objects.get(username=bidder.username, ip_address=ATTACKER)
    assert stored.failures_since_start == 31
    assert PASSWORD not in stored.post_data and "wrong-3" not in stored.post_data


@pytest.mark.django_db
def test_lock_out_is_per_account_and_per_address(client: Client, bidder: User, other_bidder: User, settings) -> None:
    """Locked per account (from anywhere) and per address (for any account); another account from another address is
    unaffected, and so is the locked account's failures count of a different account."""
    for number in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, bidder.username, f"wrong-{number}")

    # the account is locked from another address too
    elsewhere = Client()
    assert attempt(elsewhere, bidder.username, PASSWORD, address=ELSEWHERE).status_code == 429
    assert not logged_in(elsewhere)
    # the address is locked for another account too
    same_address = Client()
    assert attempt(same_address, other_bidder.username, PASSWORD).status_code == 429
    assert not logged_in(same_address)
    # another account from another address logs in
    unrelated = Client()
    response = attempt(unrelated, other_bidder.username, PASSWORD, address="192.0.2.99")
    assert response.status_code == 302 and logged_in(unrelated)


@pytest.mark.django_db
def test_below_the_limit_the_right_password_logs_in_and_forgets_the_failures(
    client: Client, bidder: User, settings
) -> None:
    for number in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, bidder.username, f"wrong-{number}").status_code == 200
    page = attempt(client, bidder.username, "wrong-again").content.decode()
    assert "登录失败次数过多" in page  # the last allowed failure locks
    AccessAttempt.objects.all().delete()

    for number in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, bidder.username, f"wrong-{number}")
    assert attempt(client, bidder.username, PASSWORD).status_code == 302
    assert logged_in(client)
    assert not AccessAttempt.objects.filter(username=bidder.username).exists()  # AXES_RESET_ON_SUCCESS


@pytest.mark.django_db
def test_forwarded_for_does_not_pick_the_address_without_a_trusted_proxy(client: Client, bidder: User, settings):
    """The address is REMOTE_ADDR: a client cannot escape the per-address lock by inventing X-Forwarded-For."""
    for number in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            reverse(LOGIN),
            {"username": f"nobody{number}", "password": "x"},
            REMOTE_ADDR=ATTACKER,
            HTTP_X_FORWARDED_FOR=f"10.9.8.{number}",
        )
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}
    assert attempt(client, bidder.username, PASSWORD).status_code == 429


@pytest.mark.django_db
def test_operator_unlocks_an_account_or_an_address_with_axes_commands(bidder: User, settings) -> None:
    """README: `manage.py axes_reset_username <name>` and `manage.py axes_reset_ip <address>`."""
    client = Client()
    for number in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, bidder.username, f"wrong-{number}")
    assert attempt(client, bidder.username, PASSWORD).status_code == 429

    call_command("axes_reset_username", bidder.username)
    # the account is free; the address still carries its failures under that username only, so it is free too
    response = attempt(client, bidder.username, PASSWORD)
    assert response.status_code == 302 and logged_in(client)

    other = Client()
    for number in range(settings.AXES_FAILURE_LIMIT):
        attempt(other, f"ghost{number}", "x", address=ELSEWHERE)
    assert attempt(other, bidder.username, PASSWORD, address=ELSEWHERE).status_code == 429
    call_command("axes_reset_ip", ELSEWHERE)
    response = attempt(other, bidder.username, PASSWORD, address=ELSEWHERE)
    assert response.status_code == 302 and logged_in(other)


@pytest.mark.django_db
def test_the_shared_login_helper_goes_through_axes(client: Client, bidder: User) -> None:
    from tests.support.platform import login

    login(client, bidder)
    assert logged_in(client)


@pytest.mark.django_db
def test_a_username_longer_than_any_user_can_have_is_refused_and_counted_not_a_500() -> None:
    """Found by the endpoint fuzzer on PostgreSQL: a 300-character username overflowed axes' 255-character column."""
    from axes.models import AccessAttempt

    answer = Client().post("/accounts/login/", {"username": "名" * 300, "password": "x"})
    assert answer.status_code == 200 and "sessionid" not in answer.cookies
    assert AccessAttempt.objects.get().username == "名" * 150
