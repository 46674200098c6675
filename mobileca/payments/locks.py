"""Row locks for payment writes, always taken in the same order (order, then payment) so that two writers can
never deadlock. On SQLite the IMMEDIATE transaction mode serialises writers instead."""

from __future__ import annotations

from mobileca.orders.models import Order
from mobileca.payments.models import Payment


def lock_payment_with_order(payment_id: int, *, order_id: int | None = None) -> tuple[Order, Payment]:
    """Lock the order (read with its product) and then the payment. ``order_id``, when the caller has read it,
    saves looking it up first (a payment never moves to another order)."""
    if order_id is None:
        order_id = Payment.objects.values_list("order_id", flat=True).get(pk=payment_id)
    order = Order.objects.select_for_update(of=("self",)).select_related("product").get(pk=order_id)
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    return order, payment
