import pytest
from django.test import Client

from mobileca.cards.models import Card
from mobileca.orders.models import Order
from mobileca.payments.models import Payment


@pytest.mark.parametrize("channel", ["alipay", "wechat"])
def test_pay_online_through_sandbox(bidder_client: Client, channel: str, django_capture_on_commit_callbacks) -> None:
    response = bidder_client.post(
        "/ca/purchase/mobile-ca/",
        {"region": "jiangxi", "channel": channel, "expected_amount": "300.00", "client_token": "t"},
    )
    order = Order.objects.get()
    page = bidder_client.get(response["Location"]).content.decode()
    assert "<svg" in page, page[:3000]
    payment = Payment.objects.get()
    assert payment.qr_content.startswith("http://testserver/sandbox/")
    cashier = Client()
    assert cashier.get(payment.qr_content).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        result = cashier.post(payment.qr_content, {"action": "pay"})
    assert "支付成功" in result.content.decode()
    order.refresh_from_db()
    assert order.status == "paid"
    assert Card.objects.count() == 1
    status = bidder_client.get(f"/ca/orders/{order.order_no}/status/").json()
    assert status == {"status": "paid", "next": f"/ca/orders/{order.order_no}/done/"}
    arrived = bidder_client.get(status["next"], follow=True)
    assert arrived.redirect_chain[-1][0] == "/ca/cards/" and "支付成功" in arrived.content.decode()
