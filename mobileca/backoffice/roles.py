"""The back office's roles: the permission each role's pages require, and the operator behind a request."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from mobileca.accounts.models import User
from mobileca.accounts.permissions import operator_required

FINANCE_PERMISSION = "payments.manage_remittance"
SUPPORT_PERMISSION = "accounts.support_lookup"
AUDIT_PERMISSION = "audit.verify_audit_chain"
REVIEW_PERMISSION = "physical.review_application"
TENDER_PERMISSION = "bidding.add_tender"

finance_required = operator_required(FINANCE_PERMISSION, message=gettext_lazy("仅财务人员可以访问此页面"))
support_required = operator_required(SUPPORT_PERMISSION, message=gettext_lazy("仅客服人员可以访问此页面"))
auditor_required = operator_required(AUDIT_PERMISSION, message=gettext_lazy("仅审计人员可以访问此页面"))
reviewer_required = operator_required(REVIEW_PERMISSION, message=gettext_lazy("仅审核人员可以访问此页面"))
tender_operator_required = operator_required(TENDER_PERMISSION, message=gettext_lazy("仅招标代理人员可以访问此页面"))
finance_or_support_required = operator_required(
    FINANCE_PERMISSION, SUPPORT_PERMISSION, message=gettext_lazy("仅财务或客服人员可以访问此页面")
)
PAGE = 50  # rows per page of the back office's long lists


@dataclass(frozen=True)
class MenuItem:
    url_name: str
    label: Promise
    active: str  # the page's ``bo_active``
    permissions: tuple[str, ...]  # the same as its view's decorator: any of them opens it


# The left menu, in order: each item names the permissions its page requires, so that a role sees only what it
# may open (finance: money; reviewer: applications; support: lookups and messages; auditor: the log; the tender
# agent: tenders).
MENU = (
    MenuItem("backoffice:remittances", gettext_lazy("线下汇款确认"), "remittances", (FINANCE_PERMISSION,)),
    MenuItem("backoffice:statements", gettext_lazy("银行流水与认领"), "statements", (FINANCE_PERMISSION,)),
    MenuItem("backoffice:orders", gettext_lazy("订单查询"), "orders", (FINANCE_PERMISSION, SUPPORT_PERMISSION)),
    MenuItem("backoffice:refunds", gettext_lazy("退款"), "refunds", (FINANCE_PERMISSION,)),
    MenuItem("physical_review:review_list", gettext_lazy("CA 办理申请审核"), "applications", (REVIEW_PERMISSION,)),
    MenuItem("backoffice:support", gettext_lazy("客服查询"), "support", (SUPPORT_PERMISSION,)),
    MenuItem("backoffice:support_requests", gettext_lazy("客服留言"), "support_requests", (SUPPORT_PERMISSION,)),
    MenuItem("backoffice:audit", gettext_lazy("审计"), "audit", (AUDIT_PERMISSION,)),
    MenuItem("backoffice:tenders", gettext_lazy("招标项目"), "tenders", (TENDER_PERMISSION,)),
)


def menu_for(user: object) -> list[MenuItem]:
    """The menu items ``user`` may open: staff holding one of each item's permissions (``operator_required``)."""
    if not (isinstance(user, User) and user.is_staff):
        return []
    return [item for item in MENU if any(user.has_perm(permission) for permission in item.permissions)]


def operator_of(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user
