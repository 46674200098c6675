from django.apps import AppConfig


class PhysicalConfig(AppConfig):
    name = "mobileca.physical"
    label = "physical"
    default_auto_field = "django.db.models.BigAutoField"
