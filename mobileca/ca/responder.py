"""The OCSP responder as a bare WSGI callable, in front of Django (``config/wsgi.py``) or on its own::

    gunicorn 'mobileca.ca.responder:standalone()'

``/pki/ocsp`` (POST ``application/ocsp-request``) and ``/pki/ocsp/<base64 request>`` (GET) are answered by
``mobileca.ca.ocsp.answer`` without Django's request handling and middleware: a pre-produced response is a cache
read (issue 16). Every other path goes to the wrapped application (404 when standalone).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

PREFIX = "/pki/ocsp"
_REASONS = {200: "200 OK", 304: "304 Not Modified", 400: "400 Bad Request", 404: "404 Not Found"}
_REASONS[405] = "405 Method Not Allowed"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class OcspResponder:
    def __init__(self, application: WsgiApp | None = None) -> None:
        self.application = application

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if path == PREFIX:
            encoded = None
        elif path.startswith(PREFIX + "/"):
            encoded = path[len(PREFIX) + 1 :]
        elif self.application is not None:
            return self.application(environ, start_response)
        else:
            start_response(_REASONS[404], [("Content-Type", "text/plain"), ("Content-Length", "9")])
            return [b"not found"]
        from mobileca.ca.ocsp import MAX_REQUEST, answer

        method = environ.get("REQUEST_METHOD", "GET")
        body = b""
        if method == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if 0 < length <= MAX_REQUEST:
                body = environ["wsgi.input"].read(length)
            elif length > MAX_REQUEST:
                body = b"\0" * (MAX_REQUEST + 1)  # refused as oversized without reading it
        result = answer(
            method=method,
            encoded=encoded,
            body=body,
            content_type=environ.get("CONTENT_TYPE", ""),
            if_none_match=environ.get("HTTP_IF_NONE_MATCH", ""),
            client=environ.get("REMOTE_ADDR"),
        )
        start_response(
            _REASONS.get(result.status, f"{result.status} Error"),
            [*result.headers, ("Content-Length", str(len(result.body)))],
        )
        return [result.body]


def standalone() -> OcspResponder:
    """The responder alone (gunicorn's application factory): Django is set up for its settings, models and cache."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    return OcspResponder()
