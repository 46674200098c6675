from django.apps import AppConfig


class SandboxIdentityConfig(AppConfig):
    name = "mobileca.sandboxes.identity"
    label = "sandbox_identity"
    verbose_name = "沙箱：支付宝身份"
