from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "mobileca.payments"
    label = "payments"
    verbose_name = _("支付")

    def ready(self) -> None:
        from mobileca.payments.checks import refuse_sandbox_gateways_outside_demo

        refuse_sandbox_gateways_outside_demo()
