"""How tests get a caller's bearer token the way real callers do."""

from __future__ import annotations

from urllib.parse import urlencode

from django.test import Client

from mobileca.shield import callers


def platform_client(platform: str) -> tuple[str, str]:
    """A platform's OAuth client: (client_id, client_secret)."""
    client, secret = callers.api_client_create(platform=platform)
    return client.client_id, secret


def platform_bearer(platform: str) -> str:
    """A platform's bearer token for the remote-signing API, got as the platform gets it: a new OAuth client's
    credentials by the client-credentials grant at ``/csc/v2/oauth2/token`` (RFC 6749 §4.4)."""
    client_id, secret = platform_client(platform)
    response = Client().post(
        "/csc/v2/oauth2/token",
        urlencode({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content
    return str(response.json()["access_token"])
