from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _

from mobileca.accounts.models import Enterprise
from mobileca.core.errors import NotFound
from mobileca.orders.models import Order, OrderStatus, Product, Region
from mobileca.payments.models import Payment


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


def order_list_for_backoffice(
    *, query: str = "", status: str = "", created_from: datetime | None = None, created_to: datetime | None = None
) -> QuerySet[Order]:
    """All orders, newest first, with their enterprise and their payments (oldest first): filtered by enterprise
    (USCC or name), status and creation time. A fixed number of queries per page."""
    rows = Order.objects.select_related("enterprise").order_by("-created_at", "-id")
    if query:
        rows = rows.filter(enterprise__uscc=query.upper()) | rows.filter(enterprise__name__icontains=query)
    if status in OrderStatus.values:
        rows = rows.filter(status=status)
    if created_from is not None:
        rows = rows.filter(created_at__gte=created_from)
    if created_to is not None:
        rows = rows.filter(created_at__lte=created_to)
    return rows.prefetch_related(Prefetch("payments", queryset=Payment.objects.order_by("created_at")))


def order_list_for_enterprise(*, enterprise_id: int) -> QuerySet[Order]:
    return Order.objects.filter(enterprise_id=enterprise_id).order_by("-created_at", "-id")
