from __future__ import annotations

from django.db import models


class TestPerson(models.Model):
    user_id = models.CharField(max_length=16, unique=True)  # Alipay user ids: 2088 + 12 digits
    name = models.CharField(max_length=50)
    resident_id = models.CharField(max_length=18)
    phone = models.CharField(max_length=11)

    def __str__(self) -> str:
        return f"{self.name} ({self.user_id})"


class AuthCode(models.Model):
    code = models.CharField(max_length=64, unique=True)
    person = models.ForeignKey(TestPerson, on_delete=models.CASCADE)
    client_id = models.CharField(max_length=64)
    redirect_uri = models.URLField(max_length=500)
    nonce = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    used = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.code
