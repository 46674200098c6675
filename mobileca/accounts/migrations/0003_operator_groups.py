"""The 客服 (support, read-only lookups) and 审计 (auditor: audit-chain verification and export) operator groups."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = {"客服": ("accounts", "support_lookup"), "审计": ("audit", "verify_audit_chain")}


def seed(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    if not all(
        Permission.objects.filter(content_type__app_label=app, codename=code).exists() for app, code in GROUPS.values()
    ):
        for app_config in apps.get_app_configs():
            app_config.models_module = True
            create_permissions(app_config, verbosity=0)
            app_config.models_module = None
    for name, (app, code) in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(Permission.objects.get(content_type__app_label=app, codename=code))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_alter_enterprise_options"),
        ("audit", "0003_alter_auditevent_options"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
