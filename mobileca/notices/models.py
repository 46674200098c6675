from __future__ import annotations

from django.db import models


class Notice(models.Model):
    """One notice to an enterprise's users, shown in the message centre until read (per enterprise)."""

    enterprise = models.ForeignKey("accounts.Enterprise", on_delete=models.PROTECT, related_name="notices")
    kind = models.CharField(max_length=30)  # payment_received | card_activated | card_renewed | application_* | ...
    title = models.CharField(max_length=100)
    body = models.CharField(max_length=500)
    link = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["enterprise", "-created_at"])]

    def __str__(self) -> str:
        return self.title


class SupportRequest(models.Model):
    """「在线留言」 to customer service: a user's question, answered by a support operator (and notified)."""

    enterprise = models.ForeignKey("accounts.Enterprise", on_delete=models.PROTECT, related_name="support_requests")
    user = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    subject = models.CharField(max_length=100)
    message = models.CharField(max_length=2000)
    phone = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField()
    answer = models.CharField(max_length=2000, blank=True)
    answered_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.subject
