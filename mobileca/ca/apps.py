from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CaConfig(AppConfig):
    name = "mobileca.ca"
    label = "ca"
    verbose_name = _("证书认证机构")

    def ready(self) -> None:
        from mobileca.ca import ocsp  # noqa: F401 (its signal receiver)
