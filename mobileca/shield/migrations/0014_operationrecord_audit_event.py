"""Operation records point at their audit event (its leaf index and proofs), no longer at a hash-chain sequence
number: existing records are matched to their events by that number before it goes."""

import django.db.models.deletion
from django.db import migrations, models


def link_events(apps, schema_editor):
    OperationRecord = apps.get_model("shield", "OperationRecord")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    ids = dict(AuditEvent.objects.values_list("seq", "id"))
    for record in OperationRecord.objects.only("pk", "audit_seq").iterator():
        OperationRecord.objects.filter(pk=record.pk).update(audit_event_id=ids[record.audit_seq])


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_alter_auditevent_options"),
        ("shield", "0013_forward_transfer_sending"),
    ]

    operations = [
        migrations.AddField(
            model_name="operationrecord",
            name="audit_event",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="audit.auditevent"
            ),
        ),
        migrations.RunPython(link_events, migrations.RunPython.noop),
        migrations.RemoveField(model_name="operationrecord", name="audit_seq"),
        migrations.AlterField(
            model_name="operationrecord",
            name="audit_event",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to="audit.auditevent"),
        ),
    ]
