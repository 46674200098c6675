from django.apps import AppConfig


class SandboxSmsConfig(AppConfig):
    name = "mobileca.sandboxes.sms"
    label = "sandbox_sms"
    verbose_name = "沙箱：短信"
