"""Back-office access: a staff user holding one of the given permissions (each operator role is a group with one)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.functional import Promise

from mobileca.core.errors import PermissionDenied

View = Callable[..., HttpResponseBase]


def operator_required(*permissions: str, message: str | Promise) -> Callable[[View], View]:
    """Signed in, staff, and holding any of ``permissions``; otherwise refused with ``message`` (lazy, so it is
    translated per request)."""

    def decorate(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not (request.user.is_staff and any(request.user.has_perm(permission) for permission in permissions)):
                raise PermissionDenied(str(message))
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
