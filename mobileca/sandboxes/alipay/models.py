from __future__ import annotations

from django.db import models


class TradeStatus(models.TextChoices):
    PRECREATED = "PRECREATED", "二维码已生成（未扫码）"  # not a real Alipay status: the trade does not exist yet
    WAIT_BUYER_PAY = "WAIT_BUYER_PAY", "等待付款"
    TRADE_SUCCESS = "TRADE_SUCCESS", "支付成功"
    TRADE_FINISHED = "TRADE_FINISHED", "交易结束"
    TRADE_CLOSED = "TRADE_CLOSED", "交易关闭"


class Trade(models.Model):
    app_id = models.CharField(max_length=32)
    out_trade_no = models.CharField(max_length=64)
    trade_no = models.CharField(max_length=64, unique=True)
    token = models.CharField(max_length=40, unique=True)
    subject = models.CharField(max_length=256)
    total_amount = models.DecimalField(max_digits=12, decimal_places=2)
    seller_id = models.CharField(max_length=32)
    notify_url = models.URLField(max_length=500)
    return_url = models.URLField(max_length=500, blank=True)
    quit_url = models.URLField(max_length=500, blank=True)  # page pay: where 「取消付款」 sends the buyer back
    status = models.CharField(max_length=20, choices=TradeStatus.choices)
    closed_before_scan = models.BooleanField(default=False)
    time_expire = models.DateTimeField()
    created_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True)
    buyer_id = models.CharField(max_length=32, blank=True)
    refund_fee = models.DecimalField(max_digits=12, decimal_places=2, default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app_id", "out_trade_no"], name="sandbox_alipay_trade_once")]

    def __str__(self) -> str:
        return self.out_trade_no


class Notification(models.Model):
    trade = models.ForeignKey(Trade, on_delete=models.CASCADE, related_name="notifications")
    notify_id = models.CharField(max_length=64, unique=True)
    form = models.JSONField()
    attempts = models.PositiveSmallIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True)
    last_answer = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return self.notify_id
