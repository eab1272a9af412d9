"""The entry guard checks for the sealer's UPDATE first (nested IFs, so the role lookup of
the maintenance exemption runs only when the maintenance setting is on): sealing updates
thousands of rows per batch and each one passes through this function."""

from django.db import migrations

_CONTENT = ("id", "created_at", "actor_type", "actor_id", "action", "target_type",
            "target_id", "details", "request_id")

PG_FORWARD = """
CREATE OR REPLACE FUNCTION audit_event_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF OLD.seq IS NULL AND NEW.seq IS NOT NULL AND {unchanged} THEN
      RETURN NEW;
    END IF;
  END IF;
  IF coalesce(current_setting('audit.maintenance', true), '') = 'on' THEN
    IF audit_in_maintenance(TG_RELID) THEN
      IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
      RETURN NEW;
    END IF;
  END IF;
  IF TG_LEVEL = 'ROW' THEN
    RAISE EXCEPTION 'the audit log is append-only: % of audit entry % refused', TG_OP, OLD.id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RAISE EXCEPTION 'the audit log is append-only: % of % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;
""".replace("{unchanged}", " AND ".join(f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}"
                                     for c in _CONTENT))


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from importlib import import_module

        previous = import_module("audit.migrations.0003_append_only_triggers")
        body = previous.PG_FORWARD
        start = body.index("CREATE OR REPLACE FUNCTION audit_event_guard()")
        end = body.index("CREATE OR REPLACE FUNCTION audit_checkpoint_guard()")
        schema_editor.execute(body[start:end], params=None)


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0003_append_only_triggers"),
    ]

    operations = [
        migrations.RunPython(forward, reverse),
    ]
