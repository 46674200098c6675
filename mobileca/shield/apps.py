from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ShieldConfig(AppConfig):
    name = "mobileca.shield"
    label = "shield"
    verbose_name = _("e签盾签名服务")
