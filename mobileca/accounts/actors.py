"""Who is acting, for the audit log: the platform user behind a request as an audit ``Actor``."""

from django.contrib.auth.models import AnonymousUser

from mobileca.accounts.models import User
from mobileca.audit.services import Actor


def actor_for(user: User | AnonymousUser) -> Actor:
    if not isinstance(user, User):
        return Actor("anonymous", "-")
    return Actor("operator" if user.is_staff else "user", str(user.pk))
