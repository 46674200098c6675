from django.apps import AppConfig


class SandboxLivenessConfig(AppConfig):
    name = "mobileca.sandboxes.liveness"
    label = "sandbox_liveness"
    verbose_name = "沙箱：活体检测"
