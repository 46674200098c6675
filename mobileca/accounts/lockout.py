"""Login throttling's answer (django-axes, issue 14): the login page again, in Chinese, with 429.

django-axes counts every failed login per account and per address (settings ``AXES_*``, overridable with
``MOBILECA_LOGIN_FAILURE_LIMIT`` and ``MOBILECA_LOGIN_LOCKOUT_MINUTES``); past the limit its backend refuses even the
right password before any hash is computed, and its middleware hands the response to ``locked_out``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def lockout_minutes() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)


def locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """The login page with the lock-out message; the username typed is kept, the password never."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form = AuthenticationForm(request, initial={"username": username})
    response = render(
        request,
        "accounts/login.html",
        {"form": form, "locked_out": True, "lockout_minutes": lockout_minutes(), "next": request.POST.get("next", "")},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response


USERNAME_MAX = 150  # the User model's username length: no login can use a longer one


def username_of(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str | None:
    """The username django-axes counts under (``AXES_USERNAME_CALLABLE``): as typed, cut to the longest a user can
    have, so a 300-character guess is counted (under its first 150 characters) instead of overflowing axes' column."""
    raw = (credentials or {}).get("username") if credentials else request.POST.get("username")
    return raw[:USERNAME_MAX] if isinstance(raw, str) else None
