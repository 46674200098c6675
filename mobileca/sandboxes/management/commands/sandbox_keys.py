from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from mobileca.sandboxes.keys import ensure_keys


class Command(BaseCommand):
    help = "Create the demo key pairs of the platform and the payment sandboxes (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        directory = ensure_keys(settings.MOBILECA_KEYS_DIR)
        self.stdout.write(f"sandbox and demo merchant keys in {directory}")
