"""Secrets stay off every page: Django's error reports (and the debug page, which ``make run`` shows only when asked)
star what views and services mark.

``SecretsHidden`` and ``SecretsHiddenReporter`` are the project's ``DEFAULT_EXCEPTION_REPORTER_FILTER`` and
``DEFAULT_EXCEPTION_REPORTER``: Django's own filter is off while ``DEBUG`` is on, exactly when its page shows every
local variable of every frame; this one is always on. Mark a service with ``sensitive_variables()`` and a view that
receives a PIN, a one-time code, a SAD, a token or key material with ``hide_secrets``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

AnyView = TypeVar("AnyView", bound=Callable[..., HttpResponse])


class SecretsHidden(SafeExceptionReporterFilter):
    """Django's report filter, active whatever ``DEBUG`` says. Django's own is off with debug on, when its error page
    shows every local variable of every frame; this one stars the variables that ``sensitive_variables`` marks (all
    of them under a view marked with ``hide_secrets``) and the POST fields that ``sensitive_post_parameters`` marks."""

    def is_active(self, request: HttpRequest | None) -> bool:
        return True


class SecretsHiddenReporter(ExceptionReporter):
    """Django's report with the request's cookies starred too (the session cookie is a bearer secret), and the query
    parameters that the view marks as it marks its POST fields (an authorisation code coming back in the query)."""

    def get_traceback_data(self) -> dict[str, Any]:
        data = super().get_traceback_data()
        if self.request is not None:
            starred = self.filter.cleansed_substitute
            marked = getattr(self.request, "sensitive_post_parameters", ())
            data["request_COOKIES_items"] = [(name, starred) for name in self.request.COOKIES]
            data["request_GET_items"] = [
                (name, starred if marked == "__ALL__" or name in marked else value)
                for name, value in self.request.GET.items()
            ]
        return data


def hide_secrets(*fields: str) -> Callable[[AnyView], AnyView]:
    """For a view that receives or handles a secret (a PIN, a one-time code, a transfer amount, a key): the POST
    ``fields`` (all when none is named) and every local variable of the view and of everything it calls are starred
    in Django's error reports and debug page. The view's caller sees nothing else change."""

    def decorate(view: AnyView) -> AnyView:
        hidden = sensitive_variables()(view)

        @functools.wraps(view)
        def wrapped(request: HttpRequest, /, *args: Any, **kwargs: Any) -> HttpResponse:
            request.exception_reporter_filter = SecretsHidden()
            request.exception_reporter_class = SecretsHiddenReporter
            return hidden(request, *args, **kwargs)

        return sensitive_post_parameters(*fields)(wrapped)  # type: ignore[return-value]

    return decorate
