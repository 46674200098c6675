"""Turn an ``ApplicationError`` escaping a view into a page (or JSON) with its code and message, never a 500."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import translation

from mobileca.core.errors import ApplicationError

log = logging.getLogger("mobileca.errors")


class ApplicationErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, ApplicationError):
            return None
        log.info("refused %s %s: %s %s", request.method, request.path, exception.code, exception.detail)
        if request.path.startswith("/api/") or (
            request.accepts("application/json") and not request.accepts("text/html")
        ):
            return JsonResponse({"code": exception.code, "message": exception.message}, status=exception.status)
        return render(request, "core/error.html", {"error": exception}, status=exception.status)


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
