"""A production installation must not talk to the sandboxes: refuse to start unless in demo mode."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register


@register(Tags.security, deploy=False)
def gateways_are_real_outside_demo(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if settings.MOBILECA_DEMO:
        return []
    urls = {
        "ALIPAY_GATEWAY_URL": settings.MOBILECA_ALIPAY["gateway_url"],
        "WECHATPAY_BASE_URL": settings.MOBILECA_WECHATPAY["base_url"],
    }
    return [
        Error(f"{name} points at a sandbox ({url}) while MOBILECA_DEMO is off", id="payments.E001")
        for name, url in urls.items()
        if "/sandbox/" in url
    ]
