"""The operators' order list with 100,000 orders: pages per second (a deep page and a filtered one, rendered by the
real view through Django's test client) against the raw rate of the same two queries (count + one page of rows)
run directly on the database connection in the same run.

Runs on PostgreSQL when ``BENCH_DATABASE_URL`` names a server database it may drop and create, else on SQLite.
"""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal

from _harness import django_setup, rate, report

ORDERS = 100_000
JOIN = "FROM orders_order o JOIN accounts_enterprise e ON e.id = o.enterprise_id"
ROWS = f"SELECT o.id, o.order_no, e.name {JOIN}"
COUNT = f"SELECT COUNT(*) {JOIN}"
NEWEST = "ORDER BY o.created_at DESC, o.id DESC"
PAGES = 40


def main() -> None:
    django_setup(database_env="BENCH_DATABASE_URL")
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client

    from mobileca.accounts.models import Enterprise, User
    from mobileca.core.clock import now
    from mobileca.core.validators import make_uscc, org_code_check_char
    from mobileca.orders.models import Order, Product, Region
    from mobileca.payments.models import Payment

    enterprises = []
    for index in range(20):
        prefix = f"91360200MA{index:06d}"
        enterprises.append(
            Enterprise.objects.create(
                name=f"基准企业{index:02d}",
                uscc=make_uscc(prefix + org_code_check_char(prefix[8:])),
                legal_representative="张三",
            )
        )
    buyer = User.objects.create(username="buyer", enterprise=enterprises[0])
    product, region, moment = Product.objects.get(code="mobile-ca"), Region.objects.get(code="jiangxi"), now()
    for start in range(0, ORDERS, 10_000):
        orders = Order.objects.bulk_create(
            Order(
                order_no=f"B{index:020d}",
                enterprise=enterprises[index % 20],
                created_by=buyer,
                client_token=f"bulk-{index}",
                product=product,
                product_name=product.name,
                seller_name="seller",
                amount=Decimal("300.00"),
                region=region,
                channel="offline",
                status="paid" if index % 4 == 0 else "closed",
                created_at=moment - timedelta(seconds=index),
                expires_at=moment,
            )
            for index in range(start, start + 10_000)
        )
        Payment.objects.bulk_create(
            Payment(order=order, channel="offline", out_trade_no=f"P{order.order_no}", amount=order.amount,
                    created_at=order.created_at)
            for order in orders
        )  # fmt: skip
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE")
    operator = User.objects.create_user(username="support", is_staff=True)
    operator.groups.add(Group.objects.get(name="客服"))
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(operator)
    uscc = enterprises[7].uscc

    def pages() -> None:
        for index in range(PAGES):
            deep = client.get("/backoffice/orders/", {"page": str(1000 + index)})
            filtered = client.get("/backoffice/orders/", {"q": uscc, "status": "paid", "page": "3"})
            assert deep.status_code == filtered.status_code == 200

    pages()  # warm caches
    view_rate = rate(2 * PAGES, pages)

    def raw() -> None:
        with connection.cursor() as cursor:
            for index in range(PAGES):
                cursor.execute("SELECT COUNT(*) FROM orders_order")
                cursor.execute(f"{ROWS} {NEWEST} LIMIT 50 OFFSET %s", [(999 + index) * 50])
                cursor.fetchall()
                cursor.execute(f"{COUNT} WHERE e.uscc = %s AND o.status = 'paid'", [uscc])
                cursor.execute(
                    f"{ROWS} WHERE e.uscc = %s AND o.status = 'paid' {NEWEST} LIMIT 50 OFFSET 100",
                    [uscc],
                )
                cursor.fetchall()

    raw_rate = rate(2 * PAGES, raw)
    database = "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    report(f"order_list_pages_100k_{database}", view_rate, "pages/s", raw_rate)


if __name__ == "__main__":
    main()
