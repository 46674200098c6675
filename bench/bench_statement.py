"""Bank-statement reconciliation: lines matched and applied per second (parse, match by memo and amount, pay the
order, create the card, audit) against the raw floor of the same matching — one UPDATE per line by memo and amount
in its own SQLite transaction."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from _harness import django_setup, rate, report

N = 400


def main() -> None:
    var_dir = django_setup()
    from mobileca.accounts.models import Enterprise, User
    from mobileca.audit.services import Actor
    from mobileca.cards.models import Card
    from mobileca.core.validators import make_uscc, org_code_check_char
    from mobileca.orders.services import OrderDraft
    from mobileca.payments.models import Payment
    from mobileca.payments.services import checkout, statement_import

    prefix = "91360200MA000001"
    enterprise = Enterprise.objects.create(
        name="基准测试企业", uscc=make_uscc(prefix + org_code_check_char(prefix[8:])), legal_representative="张三"
    )
    user = User.objects.create(username="bench", enterprise=enterprise)
    finance = User.objects.create(username="bench-finance", is_staff=True)
    actor = Actor("user", str(user.pk))
    for index in range(N):
        checkout(
            draft=OrderDraft(
                user=user,
                enterprise=enterprise,
                product_code="mobile-ca",
                region_code="jiangxi",
                channel="offline",
                expected_amount=Decimal("300.00"),
                client_token=f"b{index}",
            ),
            actor=actor,
        )
    memos = list(Payment.objects.values_list("memo_code", flat=True))
    rows = ["交易流水号,交易时间,金额,付款人户名,付款人账号,附言"]
    rows += [
        f"T{index:08d},2026-11-28 10:00:00,300.00,基准测试企业,6222000000000001,CA费 {memo}"
        for index, memo in enumerate(memos)
    ]
    raw_csv = "\n".join(rows).encode()

    def platform() -> None:
        result = statement_import(file_name="bench.csv", raw=raw_csv, operator=finance, actor=actor)
        assert result.matched == N, result

    platform_rate = rate(N, platform)
    assert Card.objects.count() == N

    raw = sqlite3.connect(var_dir / "raw.sqlite3", isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("CREATE TABLE payment (memo TEXT PRIMARY KEY, amount TEXT, status TEXT)")
    raw.executemany("INSERT INTO payment VALUES (?, '300.00', 'pending')", [(memo,) for memo in memos])

    def baseline() -> None:
        for memo in memos:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("UPDATE payment SET status='paid' WHERE memo=? AND amount='300.00'", (memo,))
            raw.execute("COMMIT")

    report("statement_lines_matched_sqlite", platform_rate, "lines/s", rate(N, baseline))


if __name__ == "__main__":
    main()
