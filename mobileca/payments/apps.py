from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "mobileca.payments"
    label = "payments"
    verbose_name = "支付"
