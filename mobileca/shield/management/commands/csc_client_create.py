"""``manage.py csc_client_create``: an OAuth client of the remote-signing API (CSC API v2 §8.4).

* ``--platform NAME``: a platform, which gets access tokens by the client-credentials grant;
* ``--app NAME --redirect-uri URI [--redirect-uri URI …] [--public]``: an application claimants use (the
  authorisation-code grant with PKCE); ``--public`` for a native app that cannot keep a secret.

The secret is printed once and kept only as a digest."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from mobileca.core.errors import InvalidInput
from mobileca.shield.callers import api_client_create
from mobileca.shield.oauth import app_create


class Command(BaseCommand):
    help = "Create an OAuth client of the remote-signing API: a platform or a claimants' application."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--platform", help="a platform (client credentials grant)")
        parser.add_argument("--app", help="an application claimants use (authorisation code with PKCE)")
        parser.add_argument("--redirect-uri", action="append", default=[], help="with --app; repeatable")
        parser.add_argument("--public", action="store_true", help="with --app: a public client (no secret)")

    def handle(self, *args: Any, **options: Any) -> None:
        token_url = settings.MOBILECA_PUBLIC_URL + "/csc/v2/oauth2/token"
        if options["app"]:
            try:
                app, secret = app_create(
                    name=options["app"], redirect_uris=options["redirect_uri"], public=options["public"]
                )
            except InvalidInput as refused:
                raise CommandError(refused.message) from None
            self.stdout.write(f"client_id:     {app.client_id}\nname:          {app.name}\n")
            self.stdout.write("redirect URIs: " + " ".join(app.redirect_uris) + "\n")
            self.stdout.write(f"client_secret: {secret}\n" if secret else "public client: no secret; PKCE S256\n")
            self.stdout.write(
                f"Authorisation: {settings.MOBILECA_PUBLIC_URL}/csc/v2/oauth2/authorize (code, PKCE S256); "
                f"token: {token_url}.\n"
            )
            return
        client, secret = api_client_create(platform=options["platform"] or settings.MOBILECA_PLATFORM_NAME)
        self.stdout.write(f"client_id:     {client.client_id}\nplatform:      {client.platform}\n")
        self.stdout.write(f"client_secret: {secret}\n")
        self.stdout.write(
            f"Get an access token: POST {token_url} grant_type=client_credentials with HTTP Basic "
            "(client_id:client_secret); send it as `Authorization: Bearer <access_token>` to /csc/v2/.\n"
            "The secret is not stored and not shown again.\n"
        )
