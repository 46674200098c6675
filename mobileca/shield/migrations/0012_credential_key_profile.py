# issue 13: each credential names the key profile its key pairs were made with (existing ones: the default, EC P-256).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('shield', '0011_claim_and_grant_statuses'),
    ]

    operations = [
        migrations.AddField(
            model_name='credential',
            name='key_profile',
            field=models.CharField(default='ec-p256', max_length=20),
        ),
    ]
