from django.apps import AppConfig


class SandboxRegistryConfig(AppConfig):
    name = "mobileca.sandboxes.registry"
    label = "sandbox_registry"
    verbose_name = "沙箱：企业信用信息"
