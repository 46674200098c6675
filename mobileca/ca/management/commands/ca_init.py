from typing import Any

from django.core.management.base import BaseCommand

from mobileca.ca.services import ca_init


class Command(BaseCommand):
    help = "Create the root and issuing CA, the master key and the first CRLs (does nothing if they exist)."

    def handle(self, *args: Any, **options: Any) -> None:
        root, issuing = ca_init()
        self.stdout.write(f"CA ready ({issuing.key_backend}): {root.subject} / {issuing.subject}")
