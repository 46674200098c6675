from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mobileca.ca.models import AuthorityProfile
from mobileca.ca.services import ca_rotate_issuing


class Command(BaseCommand):
    help = (
        "Create a new issuing CA under the same root and retire the current one: new certificates come from the new "
        "CA; the retired CA's certificates keep their OCSP responses and CRL. --profile sm2 rotates the SM2 "
        "hierarchy's issuing CA instead of the ECDSA one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--profile",
            choices=list(AuthorityProfile.values),
            default=AuthorityProfile.ECDSA,
            help="the hierarchy whose issuing CA is rotated (default: ecdsa)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        issuing = ca_rotate_issuing(key_profile=options["profile"])
        self.stdout.write(f"issuing CA rotated: {issuing.subject} (serial {issuing.serial_hex})")
        self.stdout.write(f"its CRL: /pki/ca/{issuing.serial_hex}.crl")
