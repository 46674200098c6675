from __future__ import annotations

from django.db import models


class LivenessCheck(models.Model):
    check_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=50)
    resident_id = models.CharField(max_length=18)
    nonce = models.CharField(max_length=64)
    return_url = models.URLField(max_length=500)
    outcome = models.CharField(max_length=10, default="pending")  # pending | passed | failed
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return self.check_id
