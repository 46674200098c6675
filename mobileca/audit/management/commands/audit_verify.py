from typing import Any

from django.core.management.base import BaseCommand, CommandError

from mobileca.audit.verify import audit_verify


class Command(BaseCommand):
    help = (
        "Recompute the audit log's Merkle tree from its events, check every stored node and every signed tree head, "
        "and name the first bad leaf."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_verify()
        if not report.ok:
            where = f" at leaf #{report.bad_leaf}" if report.bad_leaf is not None else ""
            raise CommandError(f"audit log broken{where}: {report.reason}")
        self.stdout.write(
            f"audit log intact: {report.leaves} leaves, {report.heads} signed tree heads, "
            f"{report.pending} events waiting for the sequencer"
        )
