"""The 审核 (reviewer) operator group: 「CA 办理申请」 review and physical-CA dispatch."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def seed(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    lookup = {"codename": "review_application", "content_type__app_label": "physical"}
    if not Permission.objects.filter(**lookup).exists():
        for app_config in apps.get_app_configs():
            app_config.models_module = True
            create_permissions(app_config, verbosity=0)
            app_config.models_module = None
    group, _ = Group.objects.get_or_create(name="审核")
    group.permissions.add(Permission.objects.get(**lookup))


class Migration(migrations.Migration):
    dependencies = [("physical", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
