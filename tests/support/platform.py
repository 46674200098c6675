"""Helpers every platform test uses: the mobile CA's price, a signed-in client, a user as an audit actor, and an
offline (remittance) order — the simplest order, with no gateway behind it."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import Group, Permission
from django.http import HttpRequest
from django.test import Client

from mobileca.accounts.models import User
from mobileca.audit.services import Actor
from mobileca.orders.models import Order
from mobileca.orders.services import OrderDraft
from mobileca.payments.models import Payment
from mobileca.payments.services import checkout
from tests.factories import PASSWORD

PRICE = Decimal("300.00")


def login_request(address: str = "127.0.0.1") -> HttpRequest:
    """The request django-axes' backend needs to check a lock-out before it lets a password through."""
    request = HttpRequest()
    request.META["REMOTE_ADDR"] = address
    return request


def operator(username: str, *, group: str = "", permission: tuple[str, str] | None = None) -> User:
    """A back-office user: staff, in one of the operators' groups (财务, 审核, 客服, 审计) or with one permission
    given as (app label, codename)."""
    user = User.objects.create_user(username=username, password=PASSWORD, is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    if permission:
        app, codename = permission
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    return user


def login(client: Client, user: User) -> Client:
    assert client.login(request=login_request(), username=user.username, password=PASSWORD)
    return client


def actor_of(user: User) -> Actor:
    return Actor("operator" if user.is_staff else "user", str(user.pk))


def place_order(user: User, *, channel: str, token: str, region: str = "jiangxi") -> tuple[Order, Payment]:
    """「确认并支付」 for the mobile CA on a channel: the order and its payment, nothing asked of a gateway yet."""
    assert user.enterprise is not None
    order = checkout(
        draft=OrderDraft(
            user=user,
            enterprise=user.enterprise,
            product_code="mobile-ca",
            region_code=region,
            channel=channel,
            expected_amount=PRICE,
            client_token=token,
        ),
        actor=actor_of(user),
    )
    return order, Payment.objects.get(order=order)


def make_offline_order(user: User, *, token: str = "tok-1", region: str = "jiangxi") -> tuple[Order, Payment]:
    return place_order(user, channel="offline", token=token, region=region)
