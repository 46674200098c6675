from __future__ import annotations

from django.db import models


class RegisteredEnterprise(models.Model):
    uscc = models.CharField(max_length=18, unique=True)
    name = models.CharField(max_length=200)
    legal_representative = models.CharField(max_length=50)
    legal_representative_id = models.CharField(max_length=18)
    legal_representative_phone = models.CharField(max_length=11)
    status = models.CharField(max_length=20, default="存续")

    def __str__(self) -> str:
        return self.name
