"""Limits on what anyone can repeat: logins aside (django-axes counts those), every action a person or a program
could repeat to cost the platform money (an SMS), rows (a device code, a session), or to guess (a user code, a
transfer amount) is counted here, per actor, in fixed windows.

    limits.hit("oauth2_device", client_address(request), "20/h")

counts one attempt and raises ``TooMany`` (429, with the seconds until the window ends) once the actor is past the
rate. Rates are written where the action is, and ``MOBILECA_RATE_LIMITS`` (a setting, keyed by scope) overrides them.

The counters live in the database, not a cache: an atomic upsert (``INSERT … ON CONFLICT DO UPDATE … RETURNING``,
PostgreSQL and SQLite alike) counts exactly under concurrency in every process of every host, which the embedded
default's caches cannot promise. Call ``hit`` outside a transaction that a refusal rolls back: a wrong guess must be
counted even though the guess is refused. ``purge_expired`` (a periodic job) deletes old windows.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection

from mobileca.core.clock import now
from mobileca.core.errors import TooMany
from mobileca.core.models import RateCount

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^(?P<count>\d+)/(?P<n>\d*)(?P<unit>[smhd])$")


@dataclass(frozen=True, slots=True)
class Rate:
    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"5/m"`` (five a minute), ``"10/h"``, ``"3/10m"`` (three in ten minutes), ``"100/d"``."""
        match = _RATE.match(text)
        if not match:
            raise ValueError(f"not a rate: {text!r} (write count/period, e.g. 5/m, 3/10m, 100/d)")
        return cls(int(match["count"]), int(match["n"] or 1) * _UNITS[match["unit"]])


def rate_for(scope: str, default: str) -> Rate:
    return Rate.parse(getattr(settings, "MOBILECA_RATE_LIMITS", {}).get(scope, default))


def _key(scope: str, who: str) -> str:
    return hashlib.sha256(f"{scope}\x1f{who}".encode()).hexdigest()


def hit(scope: str, who: str | None, rate: str, *, message: str | None = None) -> int:
    """Count one attempt of ``scope`` by ``who`` and return the attempts in this window; raise ``TooMany`` once
    they exceed the rate. ``who`` is whatever the limit is per: an address, a phone number, an enterprise id."""
    limit = rate_for(scope, rate)
    moment = now()
    window = int(moment.timestamp()) // limit.seconds
    ends = (window + 1) * limit.seconds
    table = RateCount._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (digest, bucket, hits, expires_at) VALUES (%s, %s, 1, %s) "  # noqa: S608 (our table)
            f"ON CONFLICT (digest, bucket) DO UPDATE SET hits = {table}.hits + 1 RETURNING hits",
            [_key(scope, who or "-"), window, datetime.fromtimestamp(ends, UTC)],
        )
        hits: int = cursor.fetchone()[0]
    if hits > limit.count:
        raise TooMany(message, retry_after=max(1, int(ends - moment.timestamp())))
    return hits


def purge_expired() -> int:
    deleted, _ = RateCount.objects.filter(expires_at__lt=now()).delete()
    return deleted
