from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "mobileca.backoffice"
    label = "backoffice"
    verbose_name = "运营后台"
