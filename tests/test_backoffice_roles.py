"""Operator roles (issue 9, R6.1): support looks up an enterprise read-only (and the lookup is recorded), the auditor
verifies and exports the audit chain; each role reaches only its own pages."""

from __future__ import annotations

import pytest
from django.test import Client

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.audit.sequencer import audit_sequence
from tests.support.platform import login, make_offline_order, operator


def _operator(name: str, group: str) -> Client:
    return login(Client(), operator(name, group=group))


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


def test_support_finds_an_enterprise_by_part_of_its_name_and_an_unknown_one_is_not_found_nor_recorded(
    support: Client, bidder: User
) -> None:
    assert bidder.enterprise is not None
    found = support.get("/backoffice/support/", {"q": bidder.enterprise.name[1:-1]}).content.decode()
    assert f"/backoffice/support/{bidder.enterprise.pk}/" in found
    nothing = support.get("/backoffice/support/", {"q": "不存在的企业名称"}).content.decode()
    assert f"/backoffice/support/{bidder.enterprise.pk}/" not in nothing
    assert support.get("/backoffice/support/999999/").status_code == 404
    assert not AuditEvent.objects.filter(action="support.lookup").exists()


def test_the_auditor_verifies_and_exports_the_log(auditor: Client, bidder: User, finance_client: Client) -> None:
    make_offline_order(bidder)
    sequenced = audit_sequence()
    verified = auditor.post("/backoffice/audit/").content.decode()
    assert f"审计日志完整：已重算 {sequenced} 条记录和 1 个签名树头" in verified
    assert f"最新签名树头包含 {sequenced} 条记录" in verified
    export = auditor.get("/backoffice/audit/export.csv")
    body = b"".join(export.streaming_content).decode()  # type: ignore[attr-defined]
    assert body.startswith("leaf_index,id,occurred_at,actor,action") and "order.created" in body
    assert body.splitlines()[1].startswith("0,")
    assert body.count("\n") == AuditEvent.objects.count() + 1
    assert auditor.get("/backoffice/support/").status_code == 403
    assert finance_client.get("/backoffice/audit/").status_code == 403
    assert finance_client.get("/backoffice/support/").status_code == 403


def _many_orders(count: int, start: int = 0) -> None:
    """Orders and payments in bulk (two enterprises), as a busy platform has them."""
    from datetime import timedelta
    from decimal import Decimal

    from mobileca.accounts.models import Enterprise
    from mobileca.core.clock import now
    from mobileca.orders.models import Order, Product, Region
    from mobileca.payments.models import Payment
    from tests.factories import EnterpriseFactory

    enterprises = list(Enterprise.objects.all()[:2]) or [EnterpriseFactory(), EnterpriseFactory()]
    if len(enterprises) < 2:
        enterprises.append(EnterpriseFactory())
    creator = User.objects.filter(is_staff=False).first() or User.objects.create_user(username="buyer", password="x")
    product, region, moment = Product.objects.get(code="mobile-ca"), Region.objects.get(code="jiangxi"), now()
    orders = Order.objects.bulk_create(
        Order(
            order_no=f"B{start + index:020d}",
            enterprise=enterprises[index % 2],
            created_by=creator,
            client_token=f"bulk-{start + index}",
            product=product,
            product_name=product.name,
            seller_name="seller",
            amount=Decimal("300.00"),
            region=region,
            channel="offline",
            status="pending_payment" if index % 3 else "paid",
            created_at=moment - timedelta(minutes=start + index),
            expires_at=moment + timedelta(days=7),
        )
        for index in range(count)
    )
    Payment.objects.bulk_create(
        Payment(order=order, channel="offline", out_trade_no=f"P{order.order_no}", amount=order.amount,
                created_at=order.created_at, memo_code=None)
        for order in orders
    )  # fmt: skip


def test_the_order_list_is_paginated_filtered_and_its_queries_do_not_grow(
    support: Client, finance_client: Client, django_assert_num_queries
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _many_orders(60)
    with CaptureQueriesContext(connection) as small:
        first = support.get("/backoffice/orders/")
    _many_orders(240, start=60)
    with CaptureQueriesContext(connection) as large:
        page = support.get("/backoffice/orders/", {"page": "3"})
    assert first.status_code == page.status_code == 200
    assert len(small) == len(large) <= 9  # pinned: the same number of queries at 60 and 300 orders, any page
    body = page.content.decode()
    assert body.count('class="order-row"') == 50 and "共 300 笔" in body and "第 3 / 6 页" in body
    paid = support.get("/backoffice/orders/", {"status": "paid"}).content.decode()
    assert "共 100 笔" in paid
    from mobileca.accounts.models import Enterprise

    one = Enterprise.objects.first()
    assert one is not None
    filtered = support.get("/backoffice/orders/", {"q": one.uscc}).content.decode()
    assert "共 150 笔" in filtered
    assert finance_client.get("/backoffice/orders/").status_code == 200
