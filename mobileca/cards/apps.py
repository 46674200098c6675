from django.apps import AppConfig


class CardsConfig(AppConfig):
    name = "mobileca.cards"
    label = "cards"
    verbose_name = "证书卡片"
