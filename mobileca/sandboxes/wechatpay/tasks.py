"""Callback delivery with WeChat Pay's schedule: 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h."""

from __future__ import annotations

import logging

import httpx
from django.utils import timezone
from huey.contrib.djhuey import db_task

from mobileca.sandboxes import common
from mobileca.sandboxes.wechatpay.models import Callback
from mobileca.sandboxes.wechatpay.signing import signed_headers

log = logging.getLogger(__name__)
RETRY_DELAYS = [15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600]


def deliver(callback_id: int) -> bool:
    """One attempt; the merchant acknowledges with HTTP 200 or 204. Each attempt is signed afresh."""
    callback = Callback.objects.select_related("trade").get(pk=callback_id)
    if callback.delivered_at is not None:
        return True
    body = callback.body.encode()
    try:
        with common.http_client() as client:
            response = client.post(
                callback.trade.notify_url,
                content=body,
                headers={"Content-Type": "application/json", **signed_headers(body)},
            )
        answer, acknowledged = f"HTTP {response.status_code} {response.text[:150]}", response.status_code in (200, 204)
    except httpx.HTTPError as exc:
        answer, acknowledged = f"transport error: {exc!r}", False
    callback.attempts += 1
    callback.last_answer = answer[:200]
    if acknowledged:
        callback.delivered_at = timezone.now()
    callback.save(update_fields=["attempts", "last_answer", "delivered_at"])
    log.info("wechatpay sandbox callback %s attempt %d: %s", callback.event_id, callback.attempts, answer[:40])
    return acknowledged


@db_task()
def deliver_with_retries(callback_id: int) -> None:
    if deliver(callback_id):
        return
    attempts = Callback.objects.filter(pk=callback_id).values_list("attempts", flat=True).first() or 0
    delays = common.scaled(RETRY_DELAYS)
    if attempts <= len(delays):
        deliver_with_retries.schedule((callback_id,), delay=delays[attempts - 1].total_seconds())
