from typing import Any

from django.core.management.base import BaseCommand

from mobileca.ca.services import ca_rotate_issuing


class Command(BaseCommand):
    help = (
        "Create a new issuing CA under the same root and retire the current one: new certificates come from the new "
        "CA; the retired CA's certificates keep their OCSP responses and CRL."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        issuing = ca_rotate_issuing()
        self.stdout.write(f"issuing CA rotated: {issuing.subject} (serial {issuing.serial_hex})")
        self.stdout.write(f"its CRL: /pki/ca/{issuing.serial_hex}.crl")
