"""The back office's left menu: only the pages the signed-in operator's role may open (``roles.MENU``)."""

from __future__ import annotations

from typing import Any

from django import template

from mobileca.backoffice.roles import menu_for

register = template.Library()


@register.inclusion_tag("backoffice/_menu.html", takes_context=True)
def backoffice_menu(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    return {"items": menu_for(user) if user is not None else [], "active": context.get("bo_active", "")}
