"""The database refuses to rewrite history (see audit.maintenance for the one exemption).

PostgreSQL: UPDATE of a sealed entry, any DELETE and any TRUNCATE of entries or checkpoints
fail. The only UPDATE allowed gives an unsealed entry its seq, entry_hash and sealed_at,
with every other column unchanged. SQLite: the same for UPDATE and DELETE (it has no
TRUNCATE).
"""

from django.db import migrations

_CONTENT = ("id", "created_at", "actor_type", "actor_id", "action", "target_type",
            "target_id", "details", "request_id")

PG_FORWARD = """
CREATE OR REPLACE FUNCTION audit_in_maintenance(tbl oid) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT coalesce(current_setting('audit.maintenance', true), '') = 'on'
     AND (coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false)
          OR pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = tbl),
                         'MEMBER'))
$$;

CREATE OR REPLACE FUNCTION audit_event_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF audit_in_maintenance(TG_RELID) THEN
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND NEW.seq IS NOT NULL AND {unchanged} THEN
    RETURN NEW;
  END IF;
  IF TG_LEVEL = 'ROW' THEN
    RAISE EXCEPTION 'the audit log is append-only: % of audit entry % refused', TG_OP, OLD.id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RAISE EXCEPTION 'the audit log is append-only: % of % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE FUNCTION audit_checkpoint_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF audit_in_maintenance(TG_RELID) THEN
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit checkpoints are append-only: % of % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_auditevent
  FOR EACH ROW EXECUTE FUNCTION audit_event_guard();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_auditevent
  FOR EACH STATEMENT EXECUTE FUNCTION audit_event_guard();
CREATE TRIGGER audit_checkpoint_append_only BEFORE UPDATE OR DELETE ON audit_checkpoint
  FOR EACH ROW EXECUTE FUNCTION audit_checkpoint_guard();
CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint
  FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoint_guard();
""".replace("{unchanged}", " AND ".join(f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}"
                                     for c in _CONTENT))

PG_REVERSE = """
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_checkpoint_append_only ON audit_checkpoint;
DROP TRIGGER IF EXISTS audit_checkpoint_no_truncate ON audit_checkpoint;
DROP FUNCTION IF EXISTS audit_event_guard();
DROP FUNCTION IF EXISTS audit_checkpoint_guard();
DROP FUNCTION IF EXISTS audit_in_maintenance(oid);
"""

SQLITE_FORWARD = [
    """CREATE TRIGGER audit_event_append_only_update BEFORE UPDATE ON audit_auditevent
    WHEN NOT audit_maintenance() AND NOT (OLD.seq IS NULL AND NEW.seq IS NOT NULL AND {unchanged})
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: UPDATE refused'); END""".replace(
        "{unchanged}", " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _CONTENT)),
    """CREATE TRIGGER audit_event_append_only_delete BEFORE DELETE ON audit_auditevent
    WHEN NOT audit_maintenance()
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: DELETE refused'); END""",
    """CREATE TRIGGER audit_checkpoint_append_only_update BEFORE UPDATE ON audit_checkpoint
    WHEN NOT audit_maintenance()
    BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_checkpoint_append_only_delete BEFORE DELETE ON audit_checkpoint
    WHEN NOT audit_maintenance()
    BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only: DELETE refused'); END""",
]
SQLITE_REVERSE = [
    f"DROP TRIGGER IF EXISTS {name}" for name in (
        "audit_event_append_only_update", "audit_event_append_only_delete",
        "audit_checkpoint_append_only_update", "audit_checkpoint_append_only_delete")
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        for sql in SQLITE_FORWARD:
            schema_editor.execute(sql)


def reverse(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_REVERSE, params=None)
    elif vendor == "sqlite":
        for sql in SQLITE_REVERSE:
            schema_editor.execute(sql)


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0002_log_state_and_checkpoints"),
    ]

    operations = [
        migrations.RunPython(forward, reverse),
    ]
