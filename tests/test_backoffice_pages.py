"""The back office before money moves, and who sees what (issue 18): 确认收款, 认领, 退回 and 退款 first show a
confirmation page that states the amount, the payer and the order, and act only on its own button (``confirm=yes``)
— a single POST without it changes nothing and says so; each role's left menu lists only the pages it may open,
and another role's page answers 403 with a clear message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.test import Client

from mobileca.accounts.models import User
from mobileca.audit.models import AuditEvent
from mobileca.cards.models import Card
from mobileca.core.clock import clock, now
from mobileca.orders.models import Order
from mobileca.payments.models import LineStatus, Payment, PaymentEvent, Refund, StatementLine
from mobileca.payments.services import payments_close_expired, statement_import
from tests.support.platform import actor_of, login, make_offline_order, operator

PENDING_NOTE = "尚未执行：请核对以下信息，确认无误后点击"


@dataclass(frozen=True)
class World:
    orders: list[tuple[str, str]]
    payments: list[tuple[int, str]]
    lines: list[tuple[str, str]]
    cards: int
    payment_events: int
    refunds: int
    audit_events: int


def world() -> World:
    return World(
        orders=list(Order.objects.order_by("pk").values_list("order_no", "status")),
        payments=list(Payment.objects.order_by("pk").values_list("pk", "status")),
        lines=list(StatementLine.objects.order_by("pk").values_list("bank_txn_id", "status")),
        cards=Card.objects.count(),
        payment_events=PaymentEvent.objects.count(),
        refunds=Refund.objects.count(),
        audit_events=AuditEvent.objects.count(),
    )


def import_line(finance: User, *, txn: str, amount: str = "300.00", memo: str = "CA费用") -> StatementLine:
    csv = "交易流水号,交易时间,金额,付款人户名,付款人账号,附言\n"
    csv += f"{txn},2026-11-28 10:00:00,{amount},景德镇付款企业,6222000000000001,{memo}"
    statement_import(file_name="s.csv", raw=csv.encode(), operator=finance, actor=actor_of(finance))
    return StatementLine.objects.get(bank_txn_id=txn)


def body(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


# --- 确认收款 ------------------------------------------------------------------------------------------------


def test_confirm_receipt_without_confirm_shows_amount_payer_and_order_and_changes_nothing(
    finance_client: Client, bidder: User, offline_order: tuple[Order, Payment]
) -> None:
    order, payment = offline_order
    assert bidder.enterprise is not None
    before = world()

    response = finance_client.post(f"/backoffice/remittances/{payment.pk}/confirm/")

    assert response.status_code == 200
    page = body(response)
    assert PENDING_NOTE in page
    assert order.order_no in page and bidder.enterprise.name in page and "¥300.00" in page
    assert str(payment.memo_code) in page
    assert 'name="confirm" value="yes"' in page
    assert world() == before
    order.refresh_from_db()
    assert order.status == "pending_payment" and Card.objects.count() == 0


def test_confirm_receipt_with_confirm_pays_the_order(
    finance_client: Client, offline_order: tuple[Order, Payment]
) -> None:
    order, payment = offline_order

    response = finance_client.post(f"/backoffice/remittances/{payment.pk}/confirm/", {"confirm": "yes"}, follow=True)

    assert response.redirect_chain == [("/backoffice/remittances/", 302)]
    assert [str(message) for message in response.context["messages"]] == ["已确认收款，订单已完成"]
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, payment.status, Card.objects.count()) == ("paid", "paid", 1)


@pytest.mark.parametrize("confirm", ["", "no", "YES", "1"])
def test_a_forged_confirm_value_is_not_a_confirmation(
    finance_client: Client, offline_order: tuple[Order, Payment], confirm: str
) -> None:
    _, payment = offline_order
    before = world()

    response = finance_client.post(f"/backoffice/remittances/{payment.pk}/confirm/", {"confirm": confirm})

    assert response.status_code == 200 and PENDING_NOTE in body(response)
    assert world() == before


def test_confirming_a_remittance_already_paid_says_so_and_shows_no_confirmation(
    finance_client: Client, offline_order: tuple[Order, Payment]
) -> None:
    _, payment = offline_order
    finance_client.post(f"/backoffice/remittances/{payment.pk}/confirm/", {"confirm": "yes"}, follow=True)
    before = world()

    response = finance_client.post(f"/backoffice/remittances/{payment.pk}/confirm/", follow=True)

    assert response.redirect_chain == [("/backoffice/remittances/", 302)]
    assert [str(message) for message in response.context["messages"]] == ["该汇款已确认，无需重复操作"]
    assert PENDING_NOTE not in body(response)
    assert world() == before


def test_confirming_a_remittance_that_does_not_exist_is_refused(finance_client: Client, offline_order) -> None:
    before = world()

    response = finance_client.post("/backoffice/remittances/999999/confirm/", follow=True)

    assert [str(message) for message in response.context["messages"]] == ["未找到该汇款"]
    assert world() == before


# --- 认领 and 退回 --------------------------------------------------------------------------------------------


def test_claim_without_confirm_shows_the_line_and_the_order_it_would_pay_and_changes_nothing(
    finance: User, finance_client: Client, bidder: User, offline_order: tuple[Order, Payment]
) -> None:
    order, _ = offline_order
    line = import_line(finance, txn="TXN-CLAIM")
    assert line.status == LineStatus.UNMATCHED and bidder.enterprise is not None
    before = world()

    response = finance_client.post(f"/backoffice/statements/lines/{line.pk}/claim/", {"reference": order.order_no})

    assert response.status_code == 200
    page = body(response)
    assert PENDING_NOTE in page and "确认认领" in page
    assert "TXN-CLAIM" in page and "景德镇付款企业" in page and "¥300.00" in page
    assert order.order_no in page and bidder.enterprise.name in page
    assert f'name="reference" value="{order.order_no}"' in page
    assert world() == before

    confirmed = finance_client.post(
        f"/backoffice/statements/lines/{line.pk}/claim/", {"reference": order.order_no, "confirm": "yes"}, follow=True
    )

    assert [str(message) for message in confirmed.context["messages"]] == ["认领完成：已人工认领"]
    order.refresh_from_db()
    line.refresh_from_db()
    assert (order.status, line.status) == ("paid", LineStatus.CLAIMED)


def test_claim_with_a_different_amount_is_refused_before_the_confirmation(
    finance: User, finance_client: Client, offline_order: tuple[Order, Payment]
) -> None:
    order, _ = offline_order
    line = import_line(finance, txn="TXN-WRONG", amount="299.00")
    before = world()

    response = finance_client.post(
        f"/backoffice/statements/lines/{line.pk}/claim/", {"reference": order.order_no}, follow=True
    )

    assert response.redirect_chain == [("/backoffice/statements/", 302)]
    assert [str(message) for message in response.context["messages"]] == [
        "到账金额 299.00 与订单应付金额 300.00 不符，不能认领"
    ]
    assert world() == before


def test_return_without_confirm_shows_the_payer_and_the_amount_and_changes_nothing(
    finance: User, finance_client: Client, offline_order: tuple[Order, Payment]
) -> None:
    line = import_line(finance, txn="TXN-RETURN", amount="88.00")
    before = world()

    response = finance_client.post(f"/backoffice/statements/lines/{line.pk}/return/", {"reason": "非本平台款项"})

    assert response.status_code == 200
    page = body(response)
    assert PENDING_NOTE in page and "确认登记退回" in page
    assert "¥88.00" in page and "景德镇付款企业" in page and "非本平台款项" in page
    assert world() == before

    finance_client.post(f"/backoffice/statements/lines/{line.pk}/return/", {"reason": "非本平台款项", "confirm": "yes"})

    line.refresh_from_db()
    assert line.status == LineStatus.RETURNED


def test_return_without_a_reason_is_refused_at_the_confirmation_step(
    finance: User, finance_client: Client, offline_order: tuple[Order, Payment]
) -> None:
    line = import_line(finance, txn="TXN-NOREASON")
    before = world()

    response = finance_client.post(f"/backoffice/statements/lines/{line.pk}/return/", {"reason": " "}, follow=True)

    assert [str(message) for message in response.context["messages"]] == ["请填写退回原因"]
    assert world() == before


# --- 退款 ----------------------------------------------------------------------------------------------------


@pytest.fixture
def paid_late(bidder: User, finance: User) -> Payment:
    """A remittance that arrived after its order closed: money to give back."""
    _, payment = make_offline_order(bidder)
    clock.set(now() + timedelta(days=8))
    payments_close_expired(actor=actor_of(finance))
    import_line(finance, txn="TXN-LATE", memo=str(payment.memo_code))
    payment.refresh_from_db()
    assert payment.status == "paid_late"
    return payment


def test_refund_without_confirm_shows_amount_payer_order_and_method_and_changes_nothing(
    finance_client: Client, bidder: User, paid_late: Payment
) -> None:
    assert bidder.enterprise is not None
    before = world()

    response = finance_client.post(
        "/backoffice/refunds/", {"payment_id": paid_late.pk, "offline_note": "工行转账 20261128001"}
    )

    assert response.status_code == 200
    page = body(response)
    assert PENDING_NOTE in page and "确认退款" in page
    assert paid_late.order.order_no in page and bidder.enterprise.name in page and "¥300.00" in page
    assert "登记为线下退款（工行转账 20261128001）" in page
    assert world() == before

    finance_client.post(
        "/backoffice/refunds/", {"payment_id": paid_late.pk, "offline_note": "工行转账 20261128001", "confirm": "yes"}
    )

    paid_late.refresh_from_db()
    assert paid_late.status == "refunded" and Refund.objects.get().note == "工行转账 20261128001"


@pytest.mark.parametrize("payment_id", ["abc", "", "1" * 40, "-1", "１２"])
def test_a_refund_of_a_payment_id_that_is_no_number_is_a_clear_400(
    finance_client: Client, paid_late: Payment, payment_id: str
) -> None:
    before = world()

    response = finance_client.post("/backoffice/refunds/", {"payment_id": payment_id})

    assert response.status_code == 400 and "无效的请求" in body(response)
    assert world() == before


def test_a_refund_of_a_payment_that_is_not_late_money_is_refused_before_the_confirmation(
    finance_client: Client, offline_order: tuple[Order, Payment]
) -> None:
    _, payment = offline_order
    before = world()

    response = finance_client.post("/backoffice/refunds/", {"payment_id": payment.pk})

    assert response.status_code == 409
    assert "只有关闭后到账的款项或已取消订单的款项需要退款" in body(response) and PENDING_NOTE not in body(response)
    assert world() == before


# --- each role its own menu ----------------------------------------------------------------------------------

PAGES = {
    "线下汇款确认": "/backoffice/remittances/",
    "银行流水与认领": "/backoffice/statements/",
    "订单查询": "/backoffice/orders/",
    "退款": "/backoffice/refunds/",
    "CA 办理申请审核": "/backoffice/physical/",
    "客服查询": "/backoffice/support/",
    "客服留言": "/backoffice/support/requests/",
    "审计": "/backoffice/audit/",
    "招标项目": "/backoffice/tenders/",
}
ROLES = {
    "finance": (["线下汇款确认", "银行流水与认领", "订单查询", "退款"], "仅财务人员可以访问此页面"),
    "reviewer": (["CA 办理申请审核"], "仅审核人员可以访问此页面"),
    "support": (["订单查询", "客服查询", "客服留言"], "仅客服人员可以访问此页面"),
    "auditor": (["审计"], "仅审计人员可以访问此页面"),
    "agent": (["招标项目"], "仅招标代理人员可以访问此页面"),
}


def role_user(role: str) -> User:
    if role == "agent":
        return operator("agent", permission=("bidding", "add_tender"))
    group = {"finance": "财务", "reviewer": "审核", "support": "客服", "auditor": "审计"}[role]
    return operator(role, group=group)


def menu_of(page: str) -> list[tuple[str, str]]:
    side = re.search(r'<aside class="side">(.*?)</aside>', page, re.S)
    assert side is not None
    return [(label, href) for href, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', side.group(1))]


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_role_sees_only_its_own_menu_items_and_other_pages_answer_403(db: None, role: str) -> None:
    client = login(Client(), role_user(role))
    own, _ = ROLES[role]

    home = client.get("/backoffice/")

    assert home.status_code == 200
    assert menu_of(body(home)) == [(label, PAGES[label]) for label in own]
    for label, url in PAGES.items():
        response = client.get(url)
        if label in own:
            assert response.status_code == 200, (role, url)
            assert menu_of(body(response)) == [(label, PAGES[label]) for label in own]
        else:
            assert response.status_code == 403, (role, url)
            messages = {message for _, (pages, message) in ROLES.items() if label in pages}
            messages.add("仅财务或客服人员可以访问此页面")  # 订单查询 is shared by finance and support
            assert any(message in body(response) for message in messages), (role, url)


def test_a_staff_user_without_a_role_sees_no_menu_and_is_told_why(db: None) -> None:
    client = login(Client(), operator("nobody"))

    home = client.get("/backoffice/")

    assert home.status_code == 200
    assert menu_of(body(home)) == []
    assert "您的账号尚未分配后台角色，请联系管理员。" in body(home)
    assert client.get("/backoffice/remittances/").status_code == 403


def test_a_bidder_is_refused_the_back_office_with_a_message(bidder_client: Client) -> None:
    response = bidder_client.get("/backoffice/")

    assert response.status_code == 403 and "仅运营人员可以访问后台" in body(response)
