from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "mobileca.audit"
    label = "audit"
