from django.db import migrations, models

COLLECTION = ("9550880200000001000", "中国工商银行杭州高新支行", "e签盾认证收款专户")


def seed(apps, schema_editor):
    Account = apps.get_model("sandbox_bank", "Account")
    number, bank, holder = COLLECTION
    Account.objects.get_or_create(number=number, defaults={"bank_name": bank, "holder_name": holder})


class Migration(migrations.Migration):
    dependencies = [("sandbox_bank", "0001_initial")]
    operations = [
        migrations.AddField(
            model_name="account", name="parent", field=models.CharField(blank=True, max_length=32)
        ),
        migrations.AddField(
            model_name="account", name="reference", field=models.CharField(blank=True, max_length=64)
        ),
        migrations.AddField(
            model_name="transfer",
            name="to_parent",
            field=models.CharField(blank=True, db_index=True, max_length=32),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
