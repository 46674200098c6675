from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.utils.translation import gettext as _

from mobileca.accounts.models import Enterprise, User
from mobileca.core.errors import PermissionDenied


def access_enterprise_by_user(user: User | AnonymousUser) -> Enterprise:
    """The enterprise a bidder acts for; refuses operators and users without one."""
    if not isinstance(user, User) or not user.is_authenticated or user.enterprise_id is None:
        raise PermissionDenied(_("该账户未关联投标企业，无法办理 CA"))
    enterprise = user.enterprise
    assert enterprise is not None
    return enterprise
