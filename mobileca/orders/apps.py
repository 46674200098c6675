from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "mobileca.orders"
    label = "orders"
    verbose_name = "订单"
