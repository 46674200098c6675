from django.db import migrations, models
import django.db.models.deletion

PEOPLE = [
    # user id, name, resident ID (GB 11643 check digit valid), phone
    ("2088102000000001", "王建国", "360202197001010014", "13907980001"),
    ("2088102000000002", "李南哲", "360102198505050019", "13907980002"),
    ("2088102000000003", "张小工", "360203199203030027", "13907980003"),
]


def seed(apps, schema_editor):
    TestPerson = apps.get_model("sandbox_identity", "TestPerson")
    for user_id, name, resident_id, phone in PEOPLE:
        TestPerson.objects.get_or_create(user_id=user_id, defaults={"name": name, "resident_id": resident_id, "phone": phone})


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="TestPerson",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("user_id", models.CharField(max_length=16, unique=True)),
                ("name", models.CharField(max_length=50)),
                ("resident_id", models.CharField(max_length=18)),
                ("phone", models.CharField(max_length=11)),
            ],
        ),
        migrations.CreateModel(
            name="AuthCode",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("code", models.CharField(max_length=64, unique=True)),
                ("client_id", models.CharField(max_length=64)),
                ("redirect_uri", models.URLField(max_length=500)),
                ("nonce", models.CharField(max_length=64)),
                ("expires_at", models.DateTimeField()),
                ("used", models.BooleanField(default=False)),
                ("person", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to="sandbox_identity.testperson")),
            ],
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
