from __future__ import annotations

from django.db import models


class Message(models.Model):
    phone = models.CharField(max_length=11, db_index=True)
    text = models.CharField(max_length=300)
    sent_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.phone}: {self.text[:20]}"
