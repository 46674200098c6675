"""The back office's home. Each role's pages live in their own module: ``finance``, ``reviewer`` (applications and
dispatch), ``support``, ``auditor`` and ``tenders`` (the tender agent); ``roles`` holds their permissions."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from mobileca.backoffice.roles import menu_for
from mobileca.core.errors import PermissionDenied


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied(_("仅运营人员可以访问后台"))
    return render(request, "backoffice/home.html", {"bo_active": "home", "items": menu_for(request.user)})
