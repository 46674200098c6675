"""The 财务 (finance) operator group with the remittance permission."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def seed(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    lookup = {"codename": "manage_remittance", "content_type__app_label": "payments"}
    if not Permission.objects.filter(**lookup).exists():
        # Inside a migration run permissions are only created after the last migration: create them now.
        for app_config in apps.get_app_configs():
            app_config.models_module = True
            create_permissions(app_config, verbosity=0)
            app_config.models_module = None
    group, _ = Group.objects.get_or_create(name="财务")
    group.permissions.add(Permission.objects.get(**lookup))


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
