"""「CA 续费申领」 cards: 证书ID, purchase records, claim entry (R2.1–R2.3, §8)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from mobileca.accounts.models import User
from mobileca.audit.services import Actor
from mobileca.cards.models import Card
from mobileca.cards.services import (
    card_activate,
    card_create_for_order,
    card_renewal_paid,
    card_renewed,
    cards_expire_due,
)
from mobileca.core.clock import clock
from mobileca.core.ids import CertIdAllocator, cert_id_for
from mobileca.payments.services import remittance_confirm
from tests.support.platform import actor_of, login, make_offline_order

SYSTEM = Actor("system", "test")


def _paid_card(bidder: User, finance: User, token: str = "t") -> Card:
    _, payment = make_offline_order(bidder, token=token)
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    return Card.objects.get(source_order_no=payment.order.order_no)


def test_cert_id_is_the_creation_millisecond_in_beijing_time(enterprise) -> None:
    # R2.2: yyyyMMddHHmmssSSS, e.g. 20250522162406485
    moment = datetime(2025, 5, 22, 8, 24, 6, 485_123, tzinfo=UTC)  # 16:24:06.485 in Beijing
    assert cert_id_for(moment) == "20250522162406485"
    with clock.frozen(moment):
        card = card_create_for_order(
            enterprise_id=enterprise.pk,
            product_name="移动 CA 数字证书",
            order_no="A1",
            purchased_at=moment,
            actor=SYSTEM,
        )
    assert card.cert_id == "20250522162406485"


def test_cards_created_in_the_same_millisecond_get_distinct_17_digit_ids(enterprise) -> None:
    # R2.2: unique even when two are created in the same millisecond
    moment = datetime(2026, 1, 1, 0, 0, 0, 1000, tzinfo=UTC)
    with clock.frozen(moment):
        ids = [
            card_create_for_order(
                enterprise_id=enterprise.pk,
                product_name="p",
                order_no=f"O{i}",
                purchased_at=moment,
                actor=SYSTEM,
            ).cert_id
            for i in range(5)
        ]
    assert len(set(ids)) == 5 and all(re.fullmatch(r"\d{17}", cert_id) for cert_id in ids)


def test_card_id_taken_by_another_process_moves_to_the_next_free_millisecond(enterprise, monkeypatch) -> None:
    # Another process already holds this millisecond's id: the database refuses it and we take the next one.
    moment = datetime(2026, 3, 1, 2, 0, 0, 5000, tzinfo=UTC)
    Card.objects.create(
        cert_id=cert_id_for(moment),
        enterprise=enterprise,
        product_name="p",
        source_order_no="elsewhere",
        first_purchased_at=moment,
        created_at=moment,
    )
    # This process has not seen the other's id: a fresh allocator.
    monkeypatch.setattr("mobileca.cards.services.cert_ids", CertIdAllocator())
    with clock.frozen(moment):
        card = card_create_for_order(
            enterprise_id=enterprise.pk, product_name="p", order_no="mine", purchased_at=moment, actor=SYSTEM
        )
    assert card.cert_id == "20260301100000006"


def test_card_creation_is_idempotent_per_order(enterprise) -> None:
    # §8: a card created twice for one order is not allowed
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    first = card_create_for_order(
        enterprise_id=enterprise.pk, product_name="p", order_no="O", purchased_at=moment, actor=SYSTEM
    )
    again = card_create_for_order(
        enterprise_id=enterprise.pk, product_name="p", order_no="O", purchased_at=moment, actor=SYSTEM
    )
    assert first.pk == again.pk and Card.objects.count() == 1


def test_card_list_shows_the_fields_and_dashes_until_claimed(bidder_client: Client, bidder: User, finance) -> None:
    # R2.1, R2.2
    card = _paid_card(bidder, finance)
    page = bidder_client.get("/ca/cards/").content.decode()
    for label in [
        "CA 续费申领",
        "移动CA数字证书",
        "证书ID",
        card.cert_id,
        "首次购买时间",
        "服务到期时间",
        "服务编号",
        "购买记录",
        "立即申领",
    ]:
        assert label in page, label
    assert re.search(r"<dt>服务到期时间</dt><dd>-</dd>", page)
    assert re.search(r"<dt>服务编号</dt><dd>-</dd>", page)


def test_purchase_records_show_time_amount_method_region_status(bidder_client: Client, bidder: User, finance) -> None:
    # R2.3
    card = _paid_card(bidder, finance)
    page = bidder_client.get(f"/ca/cards/{card.cert_id}/orders/").content.decode()
    for label in ["¥300.00", "线下汇款", "江西", "已支付", "新购"]:
        assert label in page, label


def test_another_enterprises_card_is_404(client: Client, bidder: User, other_bidder: User, finance) -> None:
    # §8
    card = _paid_card(bidder, finance)
    login(client, other_bidder)
    assert card.cert_id not in client.get("/ca/cards/").content.decode()
    for suffix in ["orders/", "claim/"]:
        assert client.get(f"/ca/cards/{card.cert_id}/{suffix}").status_code == 404


def test_card_list_query_count_does_not_grow_with_cards(bidder_client: Client, bidder: User, finance) -> None:
    _paid_card(bidder, finance, token="a")
    with CaptureQueriesContext(connection) as one:
        bidder_client.get("/ca/cards/")
    for index in range(5):
        _paid_card(bidder, finance, token=f"b{index}")
    with CaptureQueriesContext(connection) as six:
        bidder_client.get("/ca/cards/")
    assert len(six) == len(one)


def _active_card(enterprise, *, activated_at: datetime, expires_at: datetime) -> Card:
    with clock.frozen(activated_at):
        card = card_create_for_order(
            enterprise_id=enterprise.pk, product_name="p", order_no="O-exp", purchased_at=activated_at, actor=SYSTEM
        )
        return card_activate(cert_id=card.cert_id, service_no="S-1", expires_at=expires_at, actor=SYSTEM)


def test_the_card_page_warns_from_the_reminder_lead_on_the_platform_clock(bidder_client: Client, bidder: User) -> None:
    # §7: 「即将到期」 from 30 days before, measured on the platform's clock (tests move it far from the wall clock)
    expires = datetime(2031, 6, 30, 4, tzinfo=UTC)
    _active_card(bidder.enterprise, activated_at=datetime(2030, 6, 30, tzinfo=UTC), expires_at=expires)
    clock.set(expires - timedelta(days=31))
    assert "到期，请及时续费" not in bidder_client.get("/ca/cards/").content.decode()
    clock.set(expires - timedelta(days=29))
    assert "证书将于 2031-06-30 到期，请及时续费。" in bidder_client.get("/ca/cards/").content.decode()


def test_the_expiry_job_marks_cards_past_their_service_date_expired_once(bidder_client: Client, bidder: User) -> None:
    # A card past its 服务到期时间 shows 已过期: the periodic job moves it, once, with its audit event
    from huey.contrib.djhuey import HUEY

    from mobileca.audit.models import AuditEvent
    from mobileca.cards.tasks import expire_cards

    assert "expire_cards" in [task.name for task in HUEY.read_periodic(datetime(2030, 1, 1, 0, 10))]
    expires = datetime(2031, 6, 30, 4, tzinfo=UTC)
    card = _active_card(bidder.enterprise, activated_at=datetime(2030, 6, 30, tzinfo=UTC), expires_at=expires)
    clock.set(expires - timedelta(seconds=1))
    assert expire_cards.call_local() == 0
    card.refresh_from_db()
    assert card.status == "active" and not AuditEvent.objects.filter(action="card.expired").exists()

    clock.set(expires)
    assert expire_cards.call_local() == 1
    assert expire_cards.call_local() == 0
    card.refresh_from_db()
    assert card.status == "expired"
    assert list(AuditEvent.objects.filter(action="card.expired").values_list("subject", flat=True)) == [
        f"card:{card.cert_id}"
    ]
    assert re.search(r'<dd class="card-status expired">已过期</dd>', bidder_client.get("/ca/cards/").content.decode())


def test_the_claim_reported_again_leaves_an_expired_card_expired_and_notifies_nobody(bidder: User) -> None:
    # The claim page's poll reports the card's (long activated) claim again: that is no new activation.
    from mobileca.audit.models import AuditEvent
    from mobileca.notices.models import Notice

    expires = datetime(2031, 6, 30, 4, tzinfo=UTC)
    card = _active_card(bidder.enterprise, activated_at=datetime(2030, 6, 30, tzinfo=UTC), expires_at=expires)
    clock.set(expires + timedelta(days=2))
    assert cards_expire_due() == 1
    events, notices = AuditEvent.objects.count(), Notice.objects.count()

    again = card_activate(cert_id=card.cert_id, service_no="S-1", expires_at=expires, actor=SYSTEM)

    assert (again.status, again.expires_at) == ("expired", expires)
    card.refresh_from_db()
    assert card.status == "expired"
    assert (AuditEvent.objects.count(), Notice.objects.count()) == (events, notices)


def test_a_renewal_makes_an_expired_card_active_again(bidder: User) -> None:
    expires = datetime(2031, 6, 30, 4, tzinfo=UTC)
    card = _active_card(bidder.enterprise, activated_at=datetime(2030, 6, 30, tzinfo=UTC), expires_at=expires)
    clock.set(expires + timedelta(days=2))
    assert cards_expire_due() == 1
    card_renewal_paid(card_id=card.pk, order_no="R-1", actor=SYSTEM)
    renewed = card_renewed(cert_id=card.cert_id, order_no="R-1", expires_at=expires + timedelta(days=365), actor=SYSTEM)
    assert (renewed.status, renewed.expires_at) == ("active", expires + timedelta(days=365))
    assert cards_expire_due() == 0
