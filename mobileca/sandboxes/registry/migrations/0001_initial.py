from django.db import migrations, models

ENTERPRISES = [
    # the demo enterprises, their legal representatives being test people of the identity sandbox
    ("91360200MA35A1B20J", "景德镇瓷都建设工程有限公司", "王建国", "360202197001010014", "13907980001"),
    ("91360106MA38K7P908", "南昌高新智能装备有限公司", "李南哲", "360102198505050019", "13907980002"),
]


def seed(apps, schema_editor):
    RegisteredEnterprise = apps.get_model("sandbox_registry", "RegisteredEnterprise")
    for uscc, name, legal_rep, legal_rep_id, phone in ENTERPRISES:
        RegisteredEnterprise.objects.get_or_create(
            uscc=uscc,
            defaults={"name": name, "legal_representative": legal_rep, "legal_representative_id": legal_rep_id,
                      "legal_representative_phone": phone},
        )


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="RegisteredEnterprise",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("uscc", models.CharField(max_length=18, unique=True)),
                ("name", models.CharField(max_length=200)),
                ("legal_representative", models.CharField(max_length=50)),
                ("legal_representative_id", models.CharField(max_length=18)),
                ("legal_representative_phone", models.CharField(max_length=11)),
                ("status", models.CharField(default="存续", max_length=20)),
            ],
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
