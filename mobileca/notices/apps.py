from django.apps import AppConfig


class NoticesConfig(AppConfig):
    name = "mobileca.notices"
    label = "notices"
    default_auto_field = "django.db.models.BigAutoField"
