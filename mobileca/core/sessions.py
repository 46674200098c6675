"""Session lifetimes by area (issue 14).

A bidder at a desk keeps a working-day session (``SESSION_COOKIE_AGE``, ``MOBILECA_SESSION_HOURS``). The phone pages
(``/h5/``: the signing service, where a PIN authorises a key) and the back office (``/backoffice/``, and any staff
user anywhere: operators confirm money and see every enterprise) get short, sliding lifetimes: the session ends
after ``MOBILECA_PHONE_SESSION_MINUTES`` / ``MOBILECA_BACKOFFICE_SESSION_MINUTES`` without a request.

Sliding means the expiry is pushed forward as the person uses the pages; to keep that from writing the session on
every request, it is pushed at most once every sixth of the lifetime (a 30-minute session ends after 25 to 30 idle
minutes: possibly early, never late). A login starts the lifetime at once (``start_lifetime_at_login``), so the
first page after it writes nothing more.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponse

AREA_KEY = "_mobileca_area"
TOUCHED_KEY = "_mobileca_touched"


def session_minutes_for(request: HttpRequest, user: Any = None) -> int | None:
    """The idle lifetime of this request's area in minutes, or None for the working-day default."""
    path = request.path_info or ""
    user = user if user is not None else getattr(request, "user", None)
    minutes: list[int] = []
    if path.startswith("/h5/"):
        minutes.append(settings.MOBILECA_PHONE_SESSION_MINUTES)
    if path.startswith("/backoffice/") or (user is not None and user.is_authenticated and user.is_staff):
        minutes.append(settings.MOBILECA_BACKOFFICE_SESSION_MINUTES)
    return min(minutes) if minutes else None


def apply_lifetime(session: SessionBase, minutes: int | None) -> None:
    """Give ``session`` the lifetime of its area, writing to it only when something changes or is due."""
    if minutes is None:
        # The working day: nothing to write unless the session comes back from a short-lived area.
        if session.get("_session_expiry") is not None:
            session.set_expiry(None)  # back to SESSION_COOKIE_AGE
            session.pop(AREA_KEY, None)
            session.pop(TOUCHED_KEY, None)
        return
    now = int(time.time())
    due = now - session.get(TOUCHED_KEY, 0) >= minutes * 60 // 6
    if session.get(AREA_KEY) != minutes or session.modified or due:
        session.set_expiry(minutes * 60)
        session[AREA_KEY] = minutes
        session[TOUCHED_KEY] = now


def start_lifetime_at_login(sender: object, request: HttpRequest | None, user: Any, **kwargs: object) -> None:
    """``user_logged_in``: an operator's session is short from its first moment."""
    session = getattr(request, "session", None)
    if request is not None and session is not None:
        apply_lifetime(session, session_minutes_for(request, user))


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
        apply_lifetime(session, session_minutes_for(request))
        return response
