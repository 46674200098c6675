"""Reads of platform accounts: the enterprise a bidder acts for, and the back office's enterprise lookups."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from mobileca.accounts.models import Enterprise, User
from mobileca.core.errors import NotFound, PermissionDenied


def access_enterprise_by_user(user: User | AnonymousUser) -> Enterprise:
    """The enterprise a bidder acts for; refuses operators and users without one."""
    if not isinstance(user, User) or not user.is_authenticated or user.enterprise_id is None:
        raise PermissionDenied(_("该账户未关联投标企业，无法办理 CA"))
    enterprise = user.enterprise
    assert enterprise is not None
    return enterprise


def enterprise_search(*, query: str) -> QuerySet[Enterprise]:
    """Enterprises whose unified social credit code is ``query`` or whose name contains it; none for an empty query."""
    query = query.strip()
    if not query:
        return Enterprise.objects.none()
    return Enterprise.objects.filter(uscc=query.upper()) | Enterprise.objects.filter(name__icontains=query)


def enterprise_get(*, enterprise_id: int) -> Enterprise:
    enterprise = Enterprise.objects.filter(pk=enterprise_id).first()
    if enterprise is None:
        raise NotFound(_("未找到该企业"))
    return enterprise
