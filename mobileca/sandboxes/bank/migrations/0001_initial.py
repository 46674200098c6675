from django.db import migrations, models

ACCOUNTS = [
    ("6222020200000000001", "中国工商银行景德镇分行", "景德镇瓷都建设工程有限公司"),
    ("6217000200000000002", "中国建设银行南昌高新支行", "南昌高新智能装备有限公司"),
]


def seed(apps, schema_editor):
    Account = apps.get_model("sandbox_bank", "Account")
    for number, bank, holder in ACCOUNTS:
        Account.objects.get_or_create(number=number, defaults={"bank_name": bank, "holder_name": holder})


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Account",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.CharField(max_length=32, unique=True)),
                ("bank_name", models.CharField(max_length=100)),
                ("holder_name", models.CharField(max_length=200)),
            ],
        ),
        migrations.CreateModel(
            name="Transfer",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("from_number", models.CharField(max_length=32)),
                ("from_name", models.CharField(max_length=200)),
                ("to_number", models.CharField(db_index=True, max_length=32)),
                ("to_name", models.CharField(max_length=200)),
                ("amount", models.DecimalField(decimal_places=2, max_digits=12)),
                ("memo", models.CharField(blank=True, max_length=100)),
                ("booked_at", models.DateTimeField()),
            ],
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
