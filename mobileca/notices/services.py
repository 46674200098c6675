from __future__ import annotations

from django.db import transaction

from mobileca.core.clock import now
from mobileca.notices.models import Notice


def notify(*, enterprise_id: int, kind: str, title: str, body: str, link: str = "") -> Notice:
    """A notice in the enterprise's message centre (inside the caller's transaction, so it exists iff the change)."""
    return Notice.objects.create(
        enterprise_id=enterprise_id, kind=kind, title=title[:100], body=body[:500], link=link[:200], created_at=now()
    )


@transaction.atomic
def notices_mark_read(*, enterprise_id: int) -> int:
    return Notice.objects.filter(enterprise_id=enterprise_id, read_at__isnull=True).update(read_at=now())


def notices_for(*, enterprise_id: int, limit: int = 50) -> list[Notice]:
    return list(Notice.objects.filter(enterprise_id=enterprise_id)[:limit])


def unread_count(*, enterprise_id: int) -> int:
    return Notice.objects.filter(enterprise_id=enterprise_id, read_at__isnull=True).count()
