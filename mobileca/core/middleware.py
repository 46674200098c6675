"""The request's way in and the refusal's way out.

``BoundaryMiddleware`` refuses, before any view runs, what no view accepts (bodies past the upload limit, too many
fields, undecodable forms, NUL anywhere, JSON nested past ``core.inputs.MAX_JSON_DEPTH``);
``ApplicationErrorMiddleware`` turns an ``ApplicationError`` escaping a view into a page (or JSON) with its code and
message, never a 500. Both answer through ``error_response``. A view that must answer such input in a peer's own
format (a payment gateway's notification, the remote-signing API's error shape) is marked ``@own_boundary`` and reads
its input itself; one that only answers in its own shape is marked ``@refusals_answered_by(render)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _

from mobileca.core import inputs
from mobileca.core.errors import ApplicationError, InvalidInput, TooLarge, TooMany

log = logging.getLogger("mobileca.errors")

View = TypeVar("View", bound=Callable[..., Any])


def own_boundary(view: View) -> View:
    """Mark a view that reads and refuses its raw input itself, in its peer's format."""
    view.own_boundary = True  # type: ignore[attr-defined]
    return view


def refusals_answered_by(render: Callable[[ApplicationError], HttpResponse]) -> Callable[[View], View]:
    """Mark a view whose API has its own error shape: the boundary's refusals are answered by ``render``."""

    def mark(view: View) -> View:
        view.boundary_render = render  # type: ignore[attr-defined]
        return view

    return mark


def error_response(request: HttpRequest, exception: ApplicationError) -> HttpResponse:
    """The refusal as the client reads it: JSON for a program, the error page for a person."""
    log.info("refused %s %s: %s %s", request.method, request.path, exception.code, exception.detail)
    if "/api/" in request.path or (request.accepts("application/json") and not request.accepts("text/html")):
        response: HttpResponse = JsonResponse(
            {"code": exception.code, "message": exception.message}, status=exception.status
        )
    elif request.path.startswith("/h5/"):  # the phone's pages explain in plain words, without the error code
        response = render(request, "shield/h5_refusal.html", {"message": exception.message}, status=exception.status)
    else:
        response = render(request, "core/error.html", {"error": exception}, status=exception.status)
    if isinstance(exception, TooMany):
        response.headers["Retry-After"] = str(exception.retry_after)
    return response


_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class BoundaryMiddleware:
    """Runs before CSRF's check reads the form, so that what Django would refuse with a bare English 400 page (or a
    500) is refused here with a code and a message instead."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        if getattr(view, "own_boundary", False):
            return None
        try:
            self._check(request, view)
        except ApplicationError as refused:
            render = getattr(view, "boundary_render", None)
            if render is None:
                return error_response(request, refused)
            log.info("refused %s %s: %s %s", request.method, request.path, refused.code, refused.detail)
            return render(refused)
        return None

    def _check(self, request: HttpRequest, view: Callable[..., Any]) -> None:
        query = [item for key, values in request.GET.lists() for item in (key, *values)]
        if "\x00" in request.path or any("\x00" in item for item in query):
            raise InvalidInput(_("提交的内容含有不允许的字符"), code="nul_character")
        content_type = request.content_type or ""
        if request.method in {"GET", "HEAD", "OPTIONS"}:
            return
        try:
            if content_type in _FORMS and not (
                content_type == "multipart/form-data" and getattr(view, "csrf_exempt", False)
            ):
                # A streaming upload view (csrf-exempt) sets its own upload handlers before reading the body.
                fields = [(k, v) for k, vs in request.POST.lists() for v in vs]
                names = [f.name or "" for fs in request.FILES.lists() for f in fs[1]]
                if any("\x00" in k or "\x00" in v for k, v in fields) or any("\x00" in n for n in names):
                    raise InvalidInput(_("提交的内容含有不允许的字符"), code="nul_character")
            elif content_type == "application/json":
                body = request.body
                if inputs.json_depth_exceeds(body):
                    raise InvalidInput(_("提交的内容层级过深"), code="json_too_deep")
                if b"\x00" in body or b"\\u0000" in body.lower():
                    raise InvalidInput(_("提交的内容含有不允许的字符"), code="nul_character")
        except RequestDataTooBig as exc:
            raise TooLarge(detail=str(exc)) from exc
        except (TooManyFieldsSent, TooManyFilesSent) as exc:
            raise InvalidInput(_("提交的字段过多"), code="too_many_fields", detail=str(exc)) from exc
        except (MultiPartParserError, SuspiciousOperation, UnicodeDecodeError) as exc:
            raise InvalidInput(_("提交的内容无法读取"), code="unreadable_body", detail=str(exc)) from exc


class ApplicationErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, ApplicationError):
            return None
        return error_response(request, exception)


class LanguageMiddleware:
    """Chinese unless the user chose otherwise (the language switch sets Django's language cookie).

    Django's ``LocaleMiddleware`` would follow the browser's ``Accept-Language``; a procurement platform in Jiangxi
    shows its guide's Chinese labels to everyone by default, whatever language the browser was installed in.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        language = chosen if chosen in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        return response
