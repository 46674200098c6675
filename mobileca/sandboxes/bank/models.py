from __future__ import annotations

from django.db import models


class Account(models.Model):
    number = models.CharField(max_length=32, unique=True)
    bank_name = models.CharField(max_length=100)
    holder_name = models.CharField(max_length=200)

    def __str__(self) -> str:
        return f"{self.holder_name} {self.number}"


class Transfer(models.Model):
    from_number = models.CharField(max_length=32)
    from_name = models.CharField(max_length=200)
    to_number = models.CharField(max_length=32, db_index=True)
    to_name = models.CharField(max_length=200)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    memo = models.CharField(max_length=100, blank=True)
    booked_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.from_number} -> {self.to_number} {self.amount}"
