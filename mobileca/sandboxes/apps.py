from django.apps import AppConfig


class SandboxesConfig(AppConfig):
    name = "mobileca.sandboxes"
    label = "sandboxes"
    verbose_name = "沙箱"
