from django.apps import AppConfig


class SandboxBankConfig(AppConfig):
    name = "mobileca.sandboxes.bank"
    label = "sandbox_bank"
    verbose_name = "沙箱：银行"
