from django.db import migrations

PEOPLE = [
    # employees who join an enterprise through its admin (R3.8)
    ("2088102000000004", "刘晓梅", "360203198804040023", "13907980004"),
    ("2088102000000005", "陈立新", "360202199506060032", "13907980005"),
]


def seed(apps, schema_editor):
    TestPerson = apps.get_model("sandbox_identity", "TestPerson")
    for user_id, name, resident_id, phone in PEOPLE:
        TestPerson.objects.get_or_create(
            user_id=user_id, defaults={"name": name, "resident_id": resident_id, "phone": phone}
        )


class Migration(migrations.Migration):
    dependencies = [("sandbox_identity", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
