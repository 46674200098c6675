"""Where the bid files lie: under the private media root, never under a public URL."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from mobileca.bidding.models import Bid


def root() -> Path:
    return Path(settings.PRIVATE_MEDIA_ROOT)


def ciphertext_path(bid: Bid) -> Path:
    return root() / bid.ciphertext_name


def ciphertext_path_for(name: str) -> Path:
    return root() / name


def plaintext_path(bid: Bid) -> Path:
    return root() / bid.plaintext_name
