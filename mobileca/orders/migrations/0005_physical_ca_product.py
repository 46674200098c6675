"""The physical CA on 「CA 新购」 (R1.3). Priced like the mobile CA until operators set their own in the admin."""

from decimal import Decimal

from django.db import migrations


def seed(apps, schema_editor):
    Product = apps.get_model("orders", "Product")
    Product.objects.get_or_create(
        code="physical-ca",
        defaults={
            "name": "实体 CA 数字证书（USB Key）",
            "receipt_type": "实体CA",
            "price": Decimal("300.00"),
            "term_months": 12,
            "sort": 2,
            "needs_application": True,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("orders", "0004_product_needs_application")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
