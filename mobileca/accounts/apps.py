from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "mobileca.accounts"
    label = "accounts"
    verbose_name = "账户"
