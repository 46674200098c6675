"""Session lifetimes by area (issue 14).

A bidder at a desk keeps a working-day session (``SESSION_COOKIE_AGE``, ``MOBILECA_SESSION_HOURS``). The phone pages
(``/h5/``: the signing service, where a PIN authorises a key) and the back office (``/backoffice/``, and any staff
user anywhere: operators confirm money and see every enterprise) get short, sliding lifetimes: the session ends
after ``MOBILECA_PHONE_SESSION_MINUTES`` / ``MOBILECA_BACKOFFICE_SESSION_MINUTES`` without a request.

Sliding means the expiry is pushed forward as the person uses the pages; to keep that from writing the session on
every request, it is pushed at most once a minute (a session may end up to a minute early, never late).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

AREA_KEY = "_mobileca_area"
TOUCHED_KEY = "_mobileca_touched"
REFRESH_SECONDS = 60


def session_minutes_for(request: HttpRequest) -> int | None:
    """The idle lifetime of this request's area in minutes, or None for the working-day default."""
    path = request.path_info
    user = getattr(request, "user", None)
    minutes: list[int] = []
    if path.startswith("/h5/"):
        minutes.append(settings.MOBILECA_PHONE_SESSION_MINUTES)
    if path.startswith("/backoffice/") or (user is not None and user.is_authenticated and user.is_staff):
        minutes.append(settings.MOBILECA_BACKOFFICE_SESSION_MINUTES)
    return min(minutes) if minutes else None


class AreaSessionExpiryMiddleware:
    """After authentication: gives the session the lifetime of the area being visited (the shortest that applies)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        # Only a session that holds something (a login, a claim in progress) is given a lifetime: an anonymous visitor
        # without one, or a session the view just flushed (logout), is not handed a new session row for it.
        if session is None or session.is_empty() or not session.keys():
            return response
        minutes = session_minutes_for(request)
        area = "default" if minutes is None else f"idle:{minutes}"
        now = int(time.time())
        touched = session.get(TOUCHED_KEY, 0)
        changed_area = session.get(AREA_KEY) != area
        if minutes is None:
            if changed_area:
                session.set_expiry(None)  # back to SESSION_COOKIE_AGE
                session[AREA_KEY] = area
        elif changed_area or session.modified or now - touched >= REFRESH_SECONDS:
            session.set_expiry(minutes * 60)
            session[AREA_KEY] = area
            session[TOUCHED_KEY] = now
        return response
