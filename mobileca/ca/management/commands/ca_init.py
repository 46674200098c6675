from typing import Any

from django.core.management.base import BaseCommand

from mobileca.audit.sequencer import log_key_ensure
from mobileca.ca.services import ca_init
from mobileca.ca.tsa import tsa_ensure


class Command(BaseCommand):
    help = (
        "Create the root and issuing CA, the master key, the first CRLs, the time-stamping unit and the audit "
        "log's key (does nothing if they exist)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        root, issuing = ca_init()
        unit = tsa_ensure()  # also on an installation whose CA predates the time-stamping authority
        log_key = log_key_ensure()
        self.stdout.write(f"CA ready ({issuing.key_backend}): {root.subject} / {issuing.subject}")
        self.stdout.write(f"time-stamping unit: certificate {unit.certificate.serial_hex}")
        self.stdout.write(f"audit log key: {log_key.key_id}")
