from __future__ import annotations

from django.db import models


class TradeState(models.TextChoices):
    NOTPAY = "NOTPAY", "未支付"
    SUCCESS = "SUCCESS", "支付成功"
    CLOSED = "CLOSED", "已关闭"


class Trade(models.Model):
    mchid = models.CharField(max_length=32)
    appid = models.CharField(max_length=32)
    out_trade_no = models.CharField(max_length=32)
    transaction_id = models.CharField(max_length=32, unique=True)
    token = models.CharField(max_length=40, unique=True)
    description = models.CharField(max_length=127)
    amount_total = models.PositiveIntegerField()  # fen
    notify_url = models.URLField(max_length=500)
    state = models.CharField(max_length=10, choices=TradeState.choices, default=TradeState.NOTPAY)
    time_expire = models.DateTimeField()
    created_at = models.DateTimeField()
    success_time = models.DateTimeField(null=True)
    payer_openid = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["mchid", "out_trade_no"], name="sandbox_wechat_trade_once")]

    def __str__(self) -> str:
        return self.out_trade_no


class Callback(models.Model):
    trade = models.ForeignKey(Trade, on_delete=models.CASCADE, related_name="callbacks")
    event_id = models.CharField(max_length=64, unique=True)
    body = models.TextField()
    attempts = models.PositiveSmallIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True)
    last_answer = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return self.event_id


class Refund(models.Model):
    """``POST /v3/refund/domestic/refunds``: one refund of a paid trade, known by the merchant's out_refund_no."""

    trade = models.ForeignKey(Trade, on_delete=models.CASCADE, related_name="refunds")
    out_refund_no = models.CharField(max_length=64, unique=True)
    refund_id = models.CharField(max_length=32, unique=True)
    amount = models.PositiveIntegerField()  # fen
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.out_refund_no
