"""How tests get a caller's bearer token the way real callers do."""

from __future__ import annotations

from mobileca.shield import callers


def platform_bearer(platform: str) -> str:
    """A platform's bearer token for the remote-signing API, got as the platform gets it: today its API key."""
    _client, key = callers.api_client_create(platform=platform)
    return key
