from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from mobileca.core.validators import validate_uscc


class Enterprise(models.Model):
    """A bidder enterprise registered on the platform."""

    name = models.CharField(_("企业名称"), max_length=200)
    uscc = models.CharField(_("统一社会信用代码"), max_length=18, unique=True, validators=[validate_uscc])
    legal_representative = models.CharField(_("法定代表人"), max_length=50)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("投标企业")
        verbose_name_plural = _("投标企业")
        permissions = [("support_lookup", "客服：只读查询企业的订单、证书、申领进度与审计记录")]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A platform login. Bidders belong to one enterprise; operators (is_staff) to none."""

    enterprise = models.ForeignKey(
        Enterprise,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
        verbose_name=_("所属企业"),
    )
    phone = models.CharField(_("手机号"), max_length=20, blank=True)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        verbose_name = _("用户")  # type: ignore[assignment]
        verbose_name_plural = _("用户")  # type: ignore[assignment]
