"""Turn an ``ApplicationError`` escaping a view into a page (or JSON) with its code and message, never a 500."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

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
