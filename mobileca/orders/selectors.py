from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from mobileca.accounts.models import Enterprise
from mobileca.core.errors import NotFound
from mobileca.orders.models import Order, OrderStatus, Product, Region


def product_list_for_sale() -> QuerySet[Product]:
    return Product.objects.filter(is_active=True)


def product_get_for_sale(*, code: str) -> Product:
    product = Product.objects.filter(code=code, is_active=True).first()
    if product is None:
        raise NotFound(_("该产品不存在或已下架"))
    return product


def region_list_active() -> QuerySet[Region]:
    return Region.objects.filter(is_active=True)


def access_order_by_no(*, enterprise: Enterprise, order_no: str) -> Order:
    """An order of this enterprise; another enterprise's order is simply not found (no leak)."""
    order = Order.objects.select_related("region", "product").filter(enterprise=enterprise, order_no=order_no).first()
    if order is None:
        raise NotFound(_("未找到该订单"))
    return order


def order_list_pending_for_enterprise(*, enterprise: Enterprise) -> QuerySet[Order]:
    return Order.objects.filter(enterprise=enterprise, status=OrderStatus.PENDING_PAYMENT).select_related("region")


def order_list_for_card(*, enterprise: Enterprise, card_id: int) -> QuerySet[Order]:
    return Order.objects.filter(enterprise=enterprise, card_id=card_id).select_related("region")


def order_list_for_enterprise(*, enterprise_id: int) -> QuerySet[Order]:
    return Order.objects.filter(enterprise_id=enterprise_id).order_by("-created_at", "-id")
