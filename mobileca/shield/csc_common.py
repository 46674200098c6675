"""What the remote-signing API's modules share (``api.py`` and the routers it mounts: ``oauth_api.py``,
``timestamp_api.py``): the error shape (and its OpenAPI schema: ``ERRORS``, a route's refusals), and the JSON body
the boundary parsed once."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from ninja import Schema

BOUNDED_JSON = "_csc_bounded_json"  # the request attribute holding the body the boundary parsed


def error_response(code: str, description: str, status: int) -> JsonResponse:
    """``{"error": code, "error_description": description}`` with this HTTP status (CSC API v2 §10.2, RFC 6749 §5.2)."""
    return JsonResponse({"error": code, "error_description": description}, status=status)


def parsed_json_body(request: HttpRequest) -> Any:
    """The JSON body the boundary parsed (``None`` when there was none, or the body was a form)."""
    return getattr(request, BOUNDED_JSON, None)


class ErrorOut(Schema):
    error: str
    error_description: str


ERRORS: dict[int, type[Schema]] = {
    400: ErrorOut,  # CSC §10: every refusal of the request
    401: ErrorOut,  # a missing, unknown or expired bearer token
    413: ErrorOut,  # a body past DATA_UPLOAD_MAX_MEMORY_SIZE (the boundary)
    429: ErrorOut,  # rate limits (CSC §10.1: the service overall)
    503: ErrorOut,  # the key service unavailable (CSC §10.1)
}
