"""Operator roles (issue 9, R6.1): support looks up an enterprise read-only (and the lookup is recorded), the auditor
verifies and exports the audit chain; each role reaches only its own pages."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from tests.conftest import make_offline_order
from tests.factories import PASSWORD


def _operator(name: str, group: str) -> Client:
    user = User.objects.create_user(username=name, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.login(username=name, password=PASSWORD)
    return client


@pytest.fixture
def support(db: None) -> Client:
    return _operator("support", "客服")


@pytest.fixture
def auditor(db: None) -> Client:
    return _operator("auditor", "审计")


def test_support_finds_an_enterprise_and_sees_its_orders_cards_and_trail_read_only(
    support: Client, bidder: User
) -> None:
    order, payment = make_offline_order(bidder)
    assert bidder.enterprise is not None
    found = support.get("/backoffice/support/", {"q": bidder.enterprise.uscc}).content.decode()
    assert bidder.enterprise.name in found
    page = support.get(f"/backoffice/support/{bidder.enterprise.pk}/").content.decode()
    assert order.order_no in page and "order.created" in page
    assert AuditEvent.objects.filter(action="support.lookup", enterprise_id=bidder.enterprise.pk).count() == 1
    # read-only: no remittance confirmation, no application review, no audit export
    assert support.post(f"/backoffice/remittances/{payment.pk}/confirm/").status_code == 403
    assert support.get("/backoffice/physical/").status_code == 403
    assert support.get("/backoffice/audit/export.csv").status_code == 403
    payment.refresh_from_db()
    assert payment.status == "pending"


def test_the_auditor_verifies_and_exports_the_chain(auditor: Client, bidder: User, finance_client: Client) -> None:
    make_offline_order(bidder)
    verified = auditor.post("/backoffice/audit/").content.decode()
    assert "审计链完整" in verified
    export = auditor.get("/backoffice/audit/export.csv")
    body = b"".join(export.streaming_content).decode()  # type: ignore[attr-defined]
    assert body.startswith("seq,occurred_at,actor,action") and "order.created" in body
    assert body.count("\n") == AuditEvent.objects.count() + 1
    assert auditor.get("/backoffice/support/").status_code == 403
    assert finance_client.get("/backoffice/audit/").status_code == 403
    assert finance_client.get("/backoffice/support/").status_code == 403
