from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "mobileca.accounts"
    label = "accounts"
    verbose_name = _("账户")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from mobileca.core.sessions import start_lifetime_at_login

        # Session lifetimes by area (issue 14): an operator's session is short from the login on.
        user_logged_in.connect(start_lifetime_at_login, dispatch_uid="mobileca.sessions.lifetime_at_login")
