from typing import Any

from django.core.management.base import BaseCommand

from mobileca.ca.tsa import tsa_rotate


class Command(BaseCommand):
    help = (
        "Create a new time-stamping unit (key and certificate from the active issuing CA) and stop signing with the "
        "current one: tokens it signed keep verifying with its certificate. Run it before the unit's certificate "
        "expires, and after an issuing CA rotation to have tokens chain to the new CA."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        unit = tsa_rotate()
        self.stdout.write(
            f"time-stamping unit rotated: certificate {unit.certificate.serial_hex}, "
            f"valid until {unit.certificate.not_after:%Y-%m-%d}"
        )
