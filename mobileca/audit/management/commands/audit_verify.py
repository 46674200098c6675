from typing import Any

from django.core.management.base import BaseCommand, CommandError

from mobileca.audit.services import audit_chain_verify


class Command(BaseCommand):
    help = "Recompute the audit log's hash chain and report the first broken link."

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_chain_verify()
        if not report.ok:
            raise CommandError(f"audit chain broken at event #{report.broken_at}: {report.reason}")
        self.stdout.write(f"audit chain intact: {report.checked} events")
