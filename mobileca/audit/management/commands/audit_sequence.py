from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mobileca.audit.proofs import latest_tree_head
from mobileca.audit.sequencer import audit_sequence, log_key_ensure


class Command(BaseCommand):
    help = "Give every committed audit event its leaf in the transparency log and sign a tree head (on demand)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--init", action="store_true", help="only make sure the log key exists")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["init"]:
            log_key = log_key_ensure()
            self.stdout.write(f"audit log key ready: {log_key.key_id}")
            return
        count = audit_sequence()
        head = latest_tree_head()
        size = head.tree_size if head else 0
        self.stdout.write(f"sequenced {count} events; tree size {size}")
