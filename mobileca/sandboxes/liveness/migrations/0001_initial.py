from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="LivenessCheck",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("check_id", models.CharField(max_length=64, unique=True)),
                ("name", models.CharField(max_length=50)),
                ("resident_id", models.CharField(max_length=18)),
                ("nonce", models.CharField(max_length=64)),
                ("return_url", models.URLField(max_length=500)),
                ("outcome", models.CharField(default="pending", max_length=10)),
                ("created_at", models.DateTimeField()),
                ("finished_at", models.DateTimeField(null=True)),
            ],
        ),
    ]
