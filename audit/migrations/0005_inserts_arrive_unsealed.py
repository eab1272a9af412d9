"""Entries arrive unsealed: an INSERT may not bring its own seq, entry_hash or sealed_at.

Only the sealer gives those out. Without this, a row inserted with the next seq would make
every later sealing run fail on the unique constraint (the log would stop growing), and a
forged "sealed" row could be slipped in at the end.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION audit_event_insert_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.seq IS NOT NULL OR NEW.sealed_at IS NOT NULL OR NEW.entry_hash <> '' THEN
    IF coalesce(current_setting('audit.maintenance', true), '') = 'on' THEN
      IF audit_in_maintenance(TG_RELID) THEN
        RETURN NEW;
      END IF;
    END IF;
    RAISE EXCEPTION 'audit entries arrive unsealed: only the sealer sets seq and entry_hash'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER audit_event_arrives_unsealed BEFORE INSERT ON audit_auditevent
  FOR EACH ROW EXECUTE FUNCTION audit_event_insert_guard();
"""
PG_REVERSE = """
DROP TRIGGER IF EXISTS audit_event_arrives_unsealed ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_insert_guard();
"""
SQLITE_FORWARD = """
CREATE TRIGGER audit_event_arrives_unsealed BEFORE INSERT ON audit_auditevent
WHEN (NEW.seq IS NOT NULL OR NEW.sealed_at IS NOT NULL OR NEW.entry_hash <> '')
     AND NOT audit_maintenance()
BEGIN SELECT RAISE(ABORT, 'audit entries arrive unsealed: only the sealer sets seq'); END
"""
SQLITE_REVERSE = "DROP TRIGGER IF EXISTS audit_event_arrives_unsealed"


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD)


def reverse(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_REVERSE, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_REVERSE)


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0004_sealing_update_checked_first"),
    ]

    operations = [
        migrations.RunPython(forward, reverse),
    ]
