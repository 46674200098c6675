from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class Product(models.Model):
    """A product on 「CA 新购」. Price and term live here (R1.4: configurable per product), never in a form."""

    code = models.SlugField(unique=True)
    name = models.CharField(_("产品名称"), max_length=100)
    receipt_type = models.CharField(_("收款类型"), max_length=50)
    price = models.DecimalField(
        _("价格"), max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    term_months = models.PositiveSmallIntegerField(_("服务期限(月)"), default=12)
    # R1.3: the physical CA (a USB key) is sold only after a reviewed 「CA 办理申请」, and is dispatched, not claimed
    needs_application = models.BooleanField(_("需办理申请（实体 CA）"), default=False)
    is_active = models.BooleanField(default=True)
    sort = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort", "id"]
        verbose_name = _("产品")
        verbose_name_plural = _("产品")

    def __str__(self) -> str:
        return self.name


class Region(models.Model):
    """「选择办理地区」 (R1.5): recorded on the order, no effect on use."""

    code = models.SlugField(unique=True)
    name = models.CharField(_("地区"), max_length=20)
    is_active = models.BooleanField(default=True)
    sort = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort", "id"]
        verbose_name = _("办理地区")
        verbose_name_plural = _("办理地区")

    def __str__(self) -> str:
        return self.name


class OrderKind(models.TextChoices):
    NEW = "new", _("新购")
    RENEWAL = "renewal", _("续费")


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", _("待支付")
    PAID = "paid", _("已支付")
    CLOSED = "closed", _("已关闭")
    CANCELLED = "cancelled", _("已取消")


ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    # CANCELLED from PENDING_PAYMENT: the buyer cancelled before paying (its trade closed at the gateway first)
    OrderStatus.PENDING_PAYMENT: frozenset({OrderStatus.PAID, OrderStatus.CLOSED, OrderStatus.CANCELLED}),
    OrderStatus.PAID: frozenset({OrderStatus.CANCELLED}),  # a physical CA not yet dispatched; the money is refunded
    OrderStatus.CLOSED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


class PaymentChannel(models.TextChoices):
    ALIPAY = "alipay", _("支付宝支付")
    WECHAT = "wechat", _("微信支付")
    OFFLINE = "offline", _("线下汇款")


class Order(models.Model):
    order_no = models.CharField(_("订单号"), max_length=32, unique=True)
    enterprise = models.ForeignKey("accounts.Enterprise", on_delete=models.PROTECT, related_name="orders")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    client_token = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=OrderKind.choices, default=OrderKind.NEW)
    product = models.ForeignKey(Product, on_delete=models.PROTECT)
    product_name = models.CharField(max_length=100)
    seller_name = models.CharField(_("销售方"), max_length=100)
    amount = models.DecimalField(_("应付金额"), max_digits=12, decimal_places=2)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, verbose_name=_("办理地区"))
    channel = models.CharField(_("支付方式"), max_length=16, choices=PaymentChannel.choices)
    status = models.CharField(
        _("状态"), max_length=24, choices=OrderStatus.choices, default=OrderStatus.PENDING_PAYMENT, db_index=True
    )
    card_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(_("下单时间"))
    expires_at = models.DateTimeField(_("支付截止时间"), db_index=True)
    paid_at = models.DateTimeField(_("支付时间"), null=True, blank=True)
    closed_at = models.DateTimeField(_("关闭时间"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("订单")
        verbose_name_plural = _("订单")
        constraints = [
            # A double click on 「确认并支付」 carries the same token: one order, not two.
            models.UniqueConstraint(fields=["created_by", "client_token"], name="order_one_per_client_token"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="order_amount_positive"),
        ]
        indexes = [
            models.Index(fields=["enterprise", "-created_at"]),
            models.Index(fields=["-created_at", "-id"], name="order_newest_first"),  # the operators' list
        ]

    def __str__(self) -> str:
        return self.order_no

    @property
    def status_text(self) -> str:
        """The status as the buyer reads it: a cancelled order that had been paid says its money is refunded."""
        if self.status == OrderStatus.CANCELLED and self.paid_at is not None:
            return str(_("已取消（退款）"))
        return str(self.get_status_display())
