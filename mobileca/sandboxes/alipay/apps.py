from django.apps import AppConfig


class SandboxAlipayConfig(AppConfig):
    name = "mobileca.sandboxes.alipay"
    label = "sandbox_alipay"
    verbose_name = "沙箱：支付宝"
