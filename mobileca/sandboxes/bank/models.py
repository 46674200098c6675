from __future__ import annotations

from django.db import models


class Account(models.Model):
    """An account at the bank. A sub-account (``parent`` set) is a virtual account the bank opened for a client:
    its credits appear on the parent account's statement with the sub-account's number."""

    number = models.CharField(max_length=32, unique=True)
    bank_name = models.CharField(max_length=100)
    holder_name = models.CharField(max_length=200)
    parent = models.CharField(max_length=32, blank=True)
    reference = models.CharField(max_length=64, blank=True)  # the client's reference for a sub-account

    def __str__(self) -> str:
        return f"{self.holder_name} {self.number}"


class Transfer(models.Model):
    from_number = models.CharField(max_length=32)
    from_name = models.CharField(max_length=200)
    to_number = models.CharField(max_length=32, db_index=True)
    to_name = models.CharField(max_length=200)
    to_parent = models.CharField(max_length=32, blank=True, db_index=True)  # the statement it appears on
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    memo = models.CharField(max_length=100, blank=True)
    booked_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.from_number} -> {self.to_number} {self.amount}"
