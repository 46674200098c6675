"""The one table the foundation keeps: the rate-limit counters of ``core.limits``."""

from __future__ import annotations

from django.db import models


class RateCount(models.Model):
    """How often one actor did one limited thing in one fixed window. ``digest`` hashes the scope and the actor: no
    phone number or address is stored in the clear."""

    digest = models.CharField(max_length=64)
    bucket = models.BigIntegerField()  # the window's number: seconds since the epoch // window length
    hits = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["digest", "bucket"], name="core_ratecount_digest_bucket")]

    def __str__(self) -> str:
        return f"{self.digest[:8]}@{self.bucket}: {self.hits}"
