"""The sealer's state row is kept: no DELETE, no TRUNCATE, and it never moves backwards.

Without the row (or with its size wound back) the sealer would hand out seq 0 again: every
sealing run then fails on the unique seq ("duplicate key … seq=0") and the log stops
growing. So the row may only be created (the first sealing of an empty log) and updated
forwards: same id, a size and a checkpoint size that never shrink. Database maintenance
(audit.maintenance) is exempt, as for the entries, so that the test suite can flush.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION audit_logstate_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- The sealer's UPDATE comes first: it passes here once per sealing batch.
  IF TG_OP = 'UPDATE' THEN
    IF NEW.id = OLD.id AND NEW.size >= OLD.size
       AND NEW.checkpoint_size >= OLD.checkpoint_size THEN
      RETURN NEW;
    END IF;
  END IF;
  IF coalesce(current_setting('audit.maintenance', true), '') = 'on' THEN
    IF audit_in_maintenance(TG_RELID) THEN
      IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
      RETURN NEW;
    END IF;
  END IF;
  RAISE EXCEPTION 'the audit log state is kept (sealing depends on it): % of % refused',
    TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_logstate_kept BEFORE UPDATE OR DELETE ON audit_logstate
  FOR EACH ROW EXECUTE FUNCTION audit_logstate_guard();
CREATE TRIGGER audit_logstate_no_truncate BEFORE TRUNCATE ON audit_logstate
  FOR EACH STATEMENT EXECUTE FUNCTION audit_logstate_guard();
"""
PG_REVERSE = """
DROP TRIGGER IF EXISTS audit_logstate_kept ON audit_logstate;
DROP TRIGGER IF EXISTS audit_logstate_no_truncate ON audit_logstate;
DROP FUNCTION IF EXISTS audit_logstate_guard();
"""

SQLITE_FORWARD = [
    """CREATE TRIGGER audit_logstate_kept_delete BEFORE DELETE ON audit_logstate
    WHEN NOT audit_maintenance()
    BEGIN SELECT RAISE(ABORT, 'the audit log state is kept: DELETE refused'); END""",
    """CREATE TRIGGER audit_logstate_kept_update BEFORE UPDATE ON audit_logstate
    WHEN NOT audit_maintenance() AND NOT (NEW.id = OLD.id AND NEW.size >= OLD.size
                                          AND NEW.checkpoint_size >= OLD.checkpoint_size)
    BEGIN SELECT RAISE(ABORT, 'the audit log state is kept: UPDATE backwards refused'); END""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS audit_logstate_kept_delete",
    "DROP TRIGGER IF EXISTS audit_logstate_kept_update",
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
        ("audit", "0005_inserts_arrive_unsealed"),
    ]

    operations = [
        migrations.RunPython(forward, reverse),
    ]
