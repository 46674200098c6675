"""The back office's roles: the permission each role's pages require, and the operator behind a request."""

from __future__ import annotations

from django.http import HttpRequest
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


def operator_of(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user
