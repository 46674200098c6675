from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class CardStatus(models.TextChoices):
    UNCLAIMED = "unclaimed", _("待申领")
    ACTIVE = "active", _("已开通")
    EXPIRED = "expired", _("已过期")


CARD_TRANSITIONS: dict[str, frozenset[str]] = {
    CardStatus.UNCLAIMED: frozenset({CardStatus.ACTIVE}),
    CardStatus.ACTIVE: frozenset({CardStatus.EXPIRED}),
    CardStatus.EXPIRED: frozenset({CardStatus.ACTIVE}),
}


class Card(models.Model):
    cert_id = models.CharField(_("证书ID"), max_length=17, unique=True)
    enterprise = models.ForeignKey("accounts.Enterprise", on_delete=models.PROTECT, related_name="cards")
    product_name = models.CharField(max_length=100)
    # The order that bought the card; unique, so one order can never make two cards.
    source_order_no = models.CharField(max_length=32, unique=True)
    status = models.CharField(max_length=16, choices=CardStatus.choices, default=CardStatus.UNCLAIMED)
    first_purchased_at = models.DateTimeField(_("首次购买时间"))
    expires_at = models.DateTimeField(_("服务到期时间"), null=True, blank=True)
    service_no = models.CharField(_("服务编号"), max_length=40, blank=True)
    # A paid renewal (R4.1) waiting to be claimed by the card's claimant; cleared when it completes.
    renewal_order_no = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-first_purchased_at", "-id"]
        verbose_name = _("移动CA证书卡片")
        verbose_name_plural = _("移动CA证书卡片")
        indexes = [models.Index(fields=["enterprise", "-first_purchased_at"])]

    def __str__(self) -> str:
        return self.cert_id
