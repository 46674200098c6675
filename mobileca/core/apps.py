from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "mobileca.core"
    label = "core"
