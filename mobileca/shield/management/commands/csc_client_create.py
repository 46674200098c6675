"""``manage.py csc_client_create --platform NAME``: API credentials for a platform calling the remote-signing API.
The key is printed once and kept only as a digest."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from mobileca.shield.callers import api_client_create


class Command(BaseCommand):
    help = "Create API credentials for a platform (the key is shown once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--platform", default=settings.MOBILECA_PLATFORM_NAME)

    def handle(self, *args: Any, **options: Any) -> None:
        client, key = api_client_create(platform=options["platform"])
        self.stdout.write(f"client id: {client.client_id}\nplatform:  {client.platform}\nkey:       {key}\n")
        self.stdout.write(
            "Send it as `Authorization: Bearer <key>` to /csc/v2/. It is not stored and not shown again.\n"
        )
