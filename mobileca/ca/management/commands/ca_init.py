from typing import Any

from django.core.management.base import BaseCommand

from mobileca.audit.sequencer import log_key_ensure
from mobileca.ca.services import ca_init


class Command(BaseCommand):
    help = (
        "Create the root and issuing CA, the master key, the first CRLs and the audit log's key "
        "(does nothing if they exist)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        root, issuing = ca_init()
        log_key = log_key_ensure()
        self.stdout.write(f"CA ready ({issuing.key_backend}): {root.subject} / {issuing.subject}")
        self.stdout.write(f"audit log key: {log_key.key_id}")
