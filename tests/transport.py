"""An httpx transport that hands requests to Django's test client: the platform's gateway clients and the sandboxes
talk real HTTP (methods, headers, raw bodies) to each other in-process, inside the test's transaction."""

from __future__ import annotations

import httpx
from django.test import Client


class DjangoTestTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self.client = Client(raise_request_exception=True)
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = request.read()
        extra = {
            "HTTP_" + key.upper().replace("-", "_"): value
            for key, value in request.headers.items()
            if key.lower() not in ("content-type", "content-length", "host")
        }
        response = self.client.generic(
            request.method,
            request.url.raw_path.decode(),
            data=body,
            content_type=request.headers.get("content-type", ""),
            **extra,
        )
        return httpx.Response(response.status_code, headers=list(response.items()), content=response.content)
