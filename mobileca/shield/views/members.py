"""「成员管理」: the enterprise admin's pages (R3.8, R3.9) — pending requests, members, adding one by name and phone,
rejecting, removing, handing the admin role over."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from mobileca.core.secrecy import hide_secrets
from mobileca.shield import members
from mobileca.shield.views.common import attempt, phone_login_required, refuse_unsigned


def _members_page(request: HttpRequest, account: str, *, error: str = "", status: int = 200) -> HttpResponse:
    return render(
        request,
        "shield/h5_members.html",
        {"signed_in": True, "administered": members.administered_by(account), "error": error},
        status=status,
    )


def _not_signed_in(request: HttpRequest) -> HttpResponse:
    return render(request, "shield/h5_members.html", {"signed_in": False})


@phone_login_required(_not_signed_in)
def h5_members(request: HttpRequest, account: str) -> HttpResponse:
    """The enterprises this phone identity administers: pending requests, members, adding one by name and phone."""
    return _members_page(request, account)


def _admin_action(request: HttpRequest, action: Callable[[str], object]) -> HttpResponse:
    if request.method != "POST":
        return redirect("shield:h5_members")
    return _signed_in_admin_action(request, action)


@phone_login_required(refuse_unsigned)
def _signed_in_admin_action(request: HttpRequest, account: str, action: Callable[[str], object]) -> HttpResponse:
    def run() -> HttpResponse:
        action(account)
        return redirect("shield:h5_members")

    return attempt(run, lambda message, status: _members_page(request, account, error=message, status=status))


def h5_member_approve(request: HttpRequest, membership_id: int) -> HttpResponse:
    return _admin_action(
        request, lambda account: members.membership_approve(admin_account=account, membership_id=membership_id)
    )


def h5_member_reject(request: HttpRequest, membership_id: int) -> HttpResponse:
    reason = request.POST.get("reason", "")
    return _admin_action(
        request,
        lambda account: members.membership_reject(admin_account=account, membership_id=membership_id, reason=reason),
    )


def h5_member_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    return _admin_action(
        request, lambda account: members.member_remove(admin_account=account, membership_id=membership_id)
    )


def h5_member_hand_over(request: HttpRequest, membership_id: int) -> HttpResponse:
    return _admin_action(
        request, lambda account: members.admin_hand_over(admin_account=account, membership_id=membership_id)
    )


@hide_secrets("phone")
def h5_member_add(request: HttpRequest, uscc: str) -> HttpResponse:
    name, phone = request.POST.get("name", ""), request.POST.get("phone", "")
    return _admin_action(
        request, lambda account: members.member_add(admin_account=account, uscc=uscc, name=name, phone=phone)
    )
