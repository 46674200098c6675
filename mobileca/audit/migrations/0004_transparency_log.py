"""The hash chain becomes a Merkle-tree transparency log (issue 15): no head row to lock; events get a salt and, from
the sequencer, a leaf index; perfect subtree nodes, log keys and signed tree heads are stored. Events already
written keep their order: the sequencer gives them leaves by id, oldest first.

On PostgreSQL the database refuses any UPDATE or DELETE of an event except the sequencer's one write (setting the
leaf index of an event that has none, nothing else changed), and any UPDATE or DELETE of a node or tree head."""

import django.db.models.deletion
from django.db import migrations, models

DROP_CHAIN_TRIGGER = """
DROP TRIGGER IF EXISTS audit_event_no_change ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_append_only();
"""
CREATE = """
CREATE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.leaf_index IS NULL AND NEW.leaf_index IS NOT NULL
     AND NEW.id = OLD.id AND NEW.occurred_at = OLD.occurred_at AND NEW.actor = OLD.actor
     AND NEW.action = OLD.action AND NEW.subject = OLD.subject
     AND NEW.enterprise_id IS NOT DISTINCT FROM OLD.enterprise_id
     AND NEW.data = OLD.data AND NEW.salt = OLD.salt THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit events are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_auditevent
  FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'the audit log''s tree is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_node_no_change BEFORE UPDATE OR DELETE ON audit_auditnode
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_treehead_no_change BEFORE UPDATE OR DELETE ON audit_treehead
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS audit_event_no_change ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_node_no_change ON audit_auditnode;
DROP TRIGGER IF EXISTS audit_treehead_no_change ON audit_treehead;
DROP FUNCTION IF EXISTS audit_event_append_only();
DROP FUNCTION IF EXISTS audit_log_append_only();
"""


def on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_alter_auditevent_options"),
        ("shield", "0014_operationrecord_audit_event"),
    ]

    operations = [
        migrations.RunPython(on_postgresql(DROP_CHAIN_TRIGGER), migrations.RunPython.noop),
        migrations.CreateModel(
            name="AuditNode",
            fields=[
                ("pk", models.CompositePrimaryKey("level", "index", blank=True, editable=False, primary_key=True, serialize=False)),
                ("level", models.PositiveSmallIntegerField()),
                ("index", models.BigIntegerField()),
                ("hash", models.BinaryField(max_length=32)),
            ],
        ),
        migrations.CreateModel(
            name="LogKey",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key_backend", models.CharField(max_length=16)),
                ("key_label", models.CharField(max_length=64, unique=True)),
                ("public_key_der", models.BinaryField()),
                ("key_id", models.CharField(max_length=64, unique=True)),
                ("created_at", models.DateTimeField()),
                ("is_active", models.BooleanField(default=True)),
            ],
        ),
        migrations.CreateModel(
            name="TreeHead",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("tree_size", models.BigIntegerField(db_index=True)),
                ("root_hash", models.BinaryField(max_length=32)),
                ("timestamp_ms", models.BigIntegerField()),
                ("signature", models.BinaryField()),
                ("max_lag_ms", models.BigIntegerField(default=0)),
                (
                    "log_key",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="tree_heads", to="audit.logkey"
                    ),
                ),
            ],
            options={"ordering": ["-tree_size", "-id"]},
        ),
        migrations.DeleteModel(name="AuditHead"),
        migrations.AlterModelOptions(
            name="auditevent",
            options={"ordering": ["id"], "permissions": [("verify_audit_chain", "审计：校验并导出审计链")]},
        ),
        migrations.RemoveField(model_name="auditevent", name="hash"),
        migrations.RemoveField(model_name="auditevent", name="prev_hash"),
        migrations.RemoveField(model_name="auditevent", name="seq"),
        migrations.AddField(
            model_name="auditevent",
            name="leaf_index",
            field=models.BigIntegerField(blank=True, null=True, unique=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="salt",
            field=models.CharField(default="", max_length=32),
            preserve_default=False,
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                condition=models.Q(("leaf_index__isnull", True)), fields=["id"], name="audit_event_unsequenced"
            ),
        ),
        migrations.RunPython(on_postgresql(CREATE), on_postgresql(DROP)),
    ]
