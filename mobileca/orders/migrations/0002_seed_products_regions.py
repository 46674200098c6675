"""The catalogue every installation starts with (R1.2, R1.4, R1.5); operators may change it afterwards."""

from decimal import Decimal

from django.db import migrations


def seed(apps, schema_editor):
    Product = apps.get_model("orders", "Product")
    Region = apps.get_model("orders", "Region")
    Product.objects.get_or_create(
        code="mobile-ca",
        defaults={"name": "移动 CA 数字证书", "receipt_type": "移动CA", "price": Decimal("300.00"),
                  "term_months": 12, "sort": 1},
    )
    for sort, (code, name) in enumerate([("jiangxi", "江西"), ("guangxi", "广西")], start=1):
        Region.objects.get_or_create(code=code, defaults={"name": name, "sort": sort})


class Migration(migrations.Migration):
    dependencies = [("orders", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
