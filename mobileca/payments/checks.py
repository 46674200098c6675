"""A production installation must not talk to the sandboxes or use the demo keys: every process refuses to start.

Runs from ``PaymentsConfig.ready()`` (so under gunicorn and the job worker too, where Django's system checks do not
run). Demo mode (``MOBILECA_DEMO=1``) is for ``make run`` and the tests only.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def refuse_sandbox_gateways_outside_demo() -> None:
    if settings.MOBILECA_DEMO:
        return
    problems = [
        f"{name} points at a sandbox ({url})"
        for name, url in (
            ("ALIPAY_GATEWAY_URL", settings.MOBILECA_ALIPAY["gateway_url"]),
            ("WECHATPAY_BASE_URL", settings.MOBILECA_WECHATPAY["base_url"]),
            ("IDENTITY_TOKEN_URL", settings.MOBILECA_IDENTITY["token_url"]),
            ("REGISTRY_BASE_URL", settings.MOBILECA_REGISTRY["base_url"]),
            ("LIVENESS_BASE_URL", settings.MOBILECA_LIVENESS["base_url"]),
            ("SMS_BASE_URL", settings.MOBILECA_SMS["base_url"]),
            ("BANK_BASE_URL", settings.MOBILECA_BANK["base_url"]),
        )
        if "/sandbox/" in url
    ]
    demo_keys = Path(settings.MOBILECA_KEYS_DIR).resolve()
    problems += [
        f"{name} is a demo key in {demo_keys}"
        for conf in (
            settings.MOBILECA_ALIPAY,
            settings.MOBILECA_WECHATPAY,
            settings.MOBILECA_IDENTITY,
            settings.MOBILECA_REGISTRY,
        )
        for name, value in conf.items()
        if name.endswith("_path") and Path(value).resolve().is_relative_to(demo_keys)
    ]
    if problems:
        raise ImproperlyConfigured(
            "MOBILECA_DEMO is off but the payment gateways are not configured for production: "
            + "; ".join(problems)
            + ". Set ALIPAY_*, WECHATPAY_* and IDENTITY_* (see README), or MOBILECA_DEMO=1 for a demo."
        )
