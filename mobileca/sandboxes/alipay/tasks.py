"""Notification delivery with Alipay's retry schedule: 4m, 10m, 10m, 1h, 2h, 6h, 15h (time-scaled)."""

from __future__ import annotations

import logging

import httpx
from django.utils import timezone
from huey.contrib.djhuey import db_task

from mobileca.sandboxes import common
from mobileca.sandboxes.alipay.models import Notification

log = logging.getLogger(__name__)
RETRY_DELAYS = [4 * 60, 10 * 60, 10 * 60, 60 * 60, 2 * 3600, 6 * 3600, 15 * 3600]


def deliver(notification_id: int) -> bool:
    """One delivery attempt. Acknowledged only by a body of exactly ``success``."""
    notification = Notification.objects.select_related("trade").get(pk=notification_id)
    if notification.delivered_at is not None:
        return True
    try:
        with common.http_client() as client:
            response = client.post(notification.trade.notify_url, data=notification.form)
        answer = response.text
    except httpx.HTTPError as exc:
        answer = f"transport error: {exc!r}"
    notification.attempts += 1
    notification.last_answer = answer[:200]
    acknowledged = answer == "success"
    if acknowledged:
        notification.delivered_at = timezone.now()
    notification.save(update_fields=["attempts", "last_answer", "delivered_at"])
    log.info("alipay sandbox notify %s attempt %d: %r", notification.notify_id, notification.attempts, answer[:40])
    return acknowledged


@db_task()
def deliver_with_retries(notification_id: int) -> None:
    if deliver(notification_id):
        return
    attempts = Notification.objects.filter(pk=notification_id).values_list("attempts", flat=True).first() or 0
    delays = common.scaled(RETRY_DELAYS)
    if attempts <= len(delays):
        deliver_with_retries.schedule((notification_id,), delay=delays[attempts - 1].total_seconds())
