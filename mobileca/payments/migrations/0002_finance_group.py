"""The 财务 (finance) operator group with the remittance permission."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def seed(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="财务")
    group.permissions.add(Permission.objects.get(codename="manage_remittance", content_type__app_label="payments"))


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
