"""``manage.py tighten_var``: take group and other permissions away from trees created before owner-only storage
(``config/storage.py``). New files are owner-only anyway (umask 077 in every process); ``make run`` runs this once
at start, a deployment once after upgrading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from config.storage import tighten


class Command(BaseCommand):
    help = "Make everything under var/, the private media, the keys and the CA key folder owner-only (0600/0700)."

    def handle(self, *args: Any, **options: Any) -> None:
        tighten(
            [
                Path(settings.VAR_DIR),
                Path(settings.PRIVATE_MEDIA_ROOT),
                Path(settings.MOBILECA_KEYS_DIR),
                Path(str(settings.MOBILECA_CA["key_dir"])),
            ]
        )
