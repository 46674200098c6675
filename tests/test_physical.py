"""The physical CA (R1.3) and the message centre (issue 9): 「CA 办理申请」, review, purchase only after approval,
dispatch; the reviewer's and finance's permissions kept apart; notices."""

from __future__ import annotations

import itertools

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from mobileca.accounts.models import User
from mobileca.core.errors import InvalidTransition
from mobileca.notices.models import Notice
from mobileca.orders.models import Order
from mobileca.payments.models import Payment
from mobileca.payments.services import remittance_confirm
from mobileca.physical.models import Application, ApplicationStatus, Shipment
from tests.support.physical import application_form, reviewer, reviewer_user  # noqa: F401 (fixtures)
from tests.support.platform import actor_of, login
from tests.support.platform import operator as staff


def _buy_physical(bidder_client: Client, token: str = "phys-1") -> Order:
    return bidder_client.post(
        "/ca/purchase/physical-ca/",
        {"region": "jiangxi", "channel": "offline", "expected_amount": "300.00", "client_token": token},
    )


def test_the_physical_ca_needs_an_approved_application_before_purchase(
    bidder: User, bidder_client: Client, reviewer: Client, finance: User
) -> None:
    page = bidder_client.get("/ca/purchase/").content.decode()
    assert "实体 CA" in page and "CA 办理申请" in page
    refused = _buy_physical(bidder_client)
    assert refused.status_code == 400 and "CA 办理申请" in refused.content.decode() and not Order.objects.exists()

    assert bidder_client.post("/ca/physical/apply/", application_form(bidder)).status_code == 302
    application = Application.objects.get()
    assert (application.status, application.key_count) == ("submitted", 2)
    assert bidder_client.post("/ca/physical/apply/", application_form(bidder)).status_code == 409  # once is enough
    assert _buy_physical(bidder_client, "phys-2").status_code == 400  # not before the review

    listing = reviewer.get("/backoffice/physical/").content.decode()
    assert bidder.enterprise.name in listing and "查看营业执照" in listing  # type: ignore[union-attr]
    licence = reviewer.get(f"/backoffice/physical/{application.pk}/licence/")
    assert licence.status_code == 200 and b"".join(licence.streaming_content).startswith(b"%PDF")  # type: ignore[attr-defined]
    reviewer.post(f"/backoffice/physical/{application.pk}/", {"decision": "approve"})
    application.refresh_from_db()
    assert application.status == "approved"
    assert Notice.objects.filter(kind="application_approved", enterprise=bidder.enterprise).exists()

    assert _buy_physical(bidder_client, "phys-3").status_code == 302
    order = Order.objects.get()
    remittance_confirm(payment_id=Payment.objects.get(order=order).pk, actor=actor_of(finance), operator=finance)
    shipment = Shipment.objects.get()
    assert (shipment.order_no, shipment.key_count, shipment.dispatched_at) == (order.order_no, 2, None)
    assert not order.card_id  # a USB key is dispatched, not claimed as a mobile card
    assert "待发货" in bidder_client.get("/ca/physical/apply/").content.decode()

    bad = reviewer.post(
        f"/backoffice/physical/shipments/{shipment.pk}/dispatch/", {"courier": "顺丰", "tracking_no": "?"}
    )
    assert bad.status_code == 400 and Shipment.objects.get().dispatched_at is None
    reviewer.post(
        f"/backoffice/physical/shipments/{shipment.pk}/dispatch/",
        {"courier": "顺丰速运", "tracking_no": "SF1234567890"},
    )
    page = bidder_client.get("/ca/physical/apply/").content.decode()
    assert "已发货：顺丰速运 SF1234567890" in page
    kinds = set(Notice.objects.filter(enterprise=bidder.enterprise).values_list("kind", flat=True))
    assert {"application_approved", "payment_received", "physical_dispatched"} <= kinds

    # a second purchase needs no new application
    assert _buy_physical(bidder_client, "phys-4").status_code == 302


def test_a_returned_application_shows_the_reason_and_is_corrected_and_resubmitted(
    bidder: User, bidder_client: Client, reviewer: Client
) -> None:
    bidder_client.post("/ca/physical/apply/", application_form(bidder))
    application = Application.objects.get()
    no_reason = reviewer.post(f"/backoffice/physical/{application.pk}/", {"decision": "return", "reason": ""})
    assert no_reason.status_code == 400 and Application.objects.get().status == "submitted"
    reviewer.post(f"/backoffice/physical/{application.pk}/", {"decision": "return", "reason": "营业执照不清晰"})
    page = bidder_client.get("/ca/physical/apply/").content.decode()
    assert "退回原因：营业执照不清晰" in page and "修改后重新提交" in page
    assert Notice.objects.get(kind="application_returned").body.startswith("退回原因：营业执照不清晰")
    form = application_form(
        bidder,
        address="江西省景德镇市昌江区 8 号",
        licence=SimpleUploadedFile("new.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64),
    )
    assert bidder_client.post("/ca/physical/apply/", form).status_code == 302
    application.refresh_from_db()
    assert (application.status, application.reason, application.address) == (
        "submitted",
        "",
        "江西省景德镇市昌江区 8 号",
    )
    assert application.licence_content_type == "image/png"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"uscc": "91360200MA35A1B20X"}, "统一社会信用代码"),
        ({"contact_phone": "12"}, "联系电话"),
        ({"key_count": "50"}, "Key 数量"),
        ({"licence": SimpleUploadedFile("licence.exe", b"MZ\x90\x00")}, "PDF、JPEG、PNG"),
    ],
)
def test_bad_applications_are_refused_and_nothing_is_stored(
    bidder: User, bidder_client: Client, override: dict[str, object], message: str
) -> None:
    refused = bidder_client.post("/ca/physical/apply/", application_form(bidder, **override))
    assert refused.status_code == 400 and message in refused.content.decode()
    assert not Application.objects.exists()


def test_roles_are_kept_apart(bidder: User, bidder_client: Client, reviewer: Client, finance_client: Client) -> None:
    # a finance operator cannot review; a reviewer cannot confirm remittances; a bidder reaches neither
    bidder_client.post("/ca/physical/apply/", application_form(bidder))
    application = Application.objects.get()
    assert finance_client.post(f"/backoffice/physical/{application.pk}/", {"decision": "approve"}).status_code == 403
    assert bidder_client.post(f"/backoffice/physical/{application.pk}/", {"decision": "approve"}).status_code == 403
    assert Application.objects.get().status == "submitted"
    assert reviewer.get("/backoffice/remittances/").status_code == 403
    assert reviewer.get("/backoffice/statements/").status_code == 403


def test_the_workbench_shows_the_message_centre(bidder: User, bidder_client: Client, reviewer: Client) -> None:
    bidder_client.post("/ca/physical/apply/", application_form(bidder))
    reviewer.post(f"/backoffice/physical/{Application.objects.get().pk}/", {"decision": "approve"})
    page = bidder_client.get("/accounts/workbench/").content.decode()
    assert "消息中心" in page and "CA 办理申请已通过" in page
    bidder_client.post("/notices/")
    assert not Notice.objects.filter(read_at__isnull=True).exists()
    assert "常见问题" in bidder_client.get("/help/faq/").content.decode()


def test_the_application_state_machine_allows_exactly_its_edges(bidder: User, bidder_client: Client) -> None:
    # issue 13: through the one writer of Application.status; a refused edge changes nothing
    from mobileca.audit.services import Actor
    from mobileca.physical.services import application_status_move

    bidder_client.post("/ca/physical/apply/", application_form(bidder))
    application_id = Application.objects.get().pk
    allowed = {("submitted", "approved"), ("submitted", "returned"), ("returned", "submitted")}
    for current, target in itertools.product(ApplicationStatus.values, repeat=2):
        Application.objects.filter(pk=application_id).update(status=current)
        arguments = {
            "application": Application.objects.get(pk=application_id),
            "target": ApplicationStatus(target),
            "actor": Actor("operator", "test"),
        }
        if (current, target) in allowed:
            application_status_move(**arguments)
        else:
            with pytest.raises(InvalidTransition):
                application_status_move(**arguments)
        expected = target if (current, target) in allowed else current
        assert Application.objects.get(pk=application_id).status == expected, (current, target)


def test_an_undispatched_physical_order_can_be_cancelled_and_is_refunded_once(
    bidder: User, bidder_client: Client, reviewer: Client, finance: User, finance_client: Client
) -> None:
    from mobileca.payments.models import Refund

    bidder_client.post("/ca/physical/apply/", application_form(bidder))
    reviewer.post(f"/backoffice/physical/{Application.objects.get().pk}/", {"decision": "approve"})
    _buy_physical(bidder_client)
    order = Order.objects.get()
    payment = Payment.objects.get(order=order)
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    shipment = Shipment.objects.get()
    assert bidder_client.post(f"/ca/physical/shipments/{shipment.pk}/cancel/").status_code == 302
    order.refresh_from_db()
    assert order.status == "cancelled" and Shipment.objects.get().cancelled_at is not None
    assert "已取消，款项退回中" in bidder_client.get("/ca/physical/apply/").content.decode()
    refused = reviewer.post(
        f"/backoffice/physical/shipments/{shipment.pk}/dispatch/",
        {"courier": "顺丰速运", "tracking_no": "SF1234567890"},
    )
    assert refused.status_code == 409 and Shipment.objects.get().dispatched_at is None
    assert order.order_no in finance_client.get("/backoffice/refunds/").content.decode()
    finance_client.post(
        "/backoffice/refunds/", {"payment_id": payment.pk, "offline_note": "工行转账退回", "confirm": "yes"}
    )
    finance_client.post("/backoffice/refunds/", {"payment_id": payment.pk, "offline_note": "again", "confirm": "yes"})
    payment.refresh_from_db()
    assert payment.status == "refunded" and Refund.objects.count() == 1


def test_a_dispatched_order_cannot_be_cancelled(
    bidder: User, bidder_client: Client, reviewer: Client, finance: User
) -> None:
    bidder_client.post("/ca/physical/apply/", application_form(bidder))
    reviewer.post(f"/backoffice/physical/{Application.objects.get().pk}/", {"decision": "approve"})
    _buy_physical(bidder_client)
    payment = Payment.objects.get()
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    shipment = Shipment.objects.get()
    reviewer.post(
        f"/backoffice/physical/shipments/{shipment.pk}/dispatch/",
        {"courier": "顺丰速运", "tracking_no": "SF1234567890"},
    )
    assert bidder_client.post(f"/ca/physical/shipments/{shipment.pk}/cancel/").status_code == 409
    assert Order.objects.get().status == "paid"


def test_customer_service_messages_are_answered_and_notified(bidder_client: Client, bidder: User) -> None:
    from mobileca.notices.models import SupportRequest

    operator = login(Client(), staff("cs", group="客服"))
    assert bidder_client.post("/help/contact/", {"subject": "", "message": ""}).status_code == 400
    bidder_client.post(
        "/help/contact/", {"subject": "PIN 码锁定", "message": "输错了五次怎么办？", "phone": "13900000000"}
    )
    request = SupportRequest.objects.get()
    assert "PIN 码锁定" in operator.get("/backoffice/support/requests/").content.decode()
    assert bidder_client.get("/backoffice/support/requests/").status_code == 403
    operator.post(
        "/backoffice/support/requests/", {"request_id": request.pk, "answer": "15 分钟后再试，或人脸识别重置。"}
    )
    page = bidder_client.get("/help/contact/").content.decode()
    assert "客服回复" in page and "人脸识别重置" in page
    assert Notice.objects.filter(kind="support_answered", enterprise=bidder.enterprise).count() == 1
