"""What the witnesses co-signed is kept as the audit entries are: the database refuses to
rewrite it (audit.maintenance is the one exemption, as for the entries).

- Cosignatures (audit_witnesscosignature): append-only. No UPDATE, no DELETE, no TRUNCATE.
  A cosignature is the commission's word that it saw this history; removing one would make a
  witnessed checkpoint look unwitnessed, and editing one would make verify_audit fail.
- Witness states (audit_witnessstate): kept and forward only. A row starts at size 0 (it is
  created before the witness is first asked); an UPDATE keeps its id and name and never
  shrinks its size, and at the same size keeps its root hash and frontier (the root of a
  size never changes). The bookkeeping columns (failures, last error, next retry, last
  attempt, the witness's timestamp) change freely. No DELETE, no TRUNCATE. Winding a state
  back would hide from officers how far the commission had co-signed.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION audit_cosignature_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF coalesce(current_setting('audit.maintenance', true), '') = 'on' THEN
    IF audit_in_maintenance(TG_RELID) THEN
      IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
      RETURN NEW;
    END IF;
  END IF;
  RAISE EXCEPTION 'witness cosignatures are append-only: % of % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE FUNCTION audit_witnessstate_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- The service's own writes come first: they pass here once per request to a witness.
  IF TG_OP = 'INSERT' THEN
    IF NEW.size = 0 AND NEW.root_hash = '' THEN
      RETURN NEW;
    END IF;
  ELSIF TG_OP = 'UPDATE' THEN
    IF NEW.id = OLD.id AND NEW.name = OLD.name
       AND (NEW.size > OLD.size
            OR (NEW.size = OLD.size
                AND (OLD.root_hash = '' OR (NEW.root_hash = OLD.root_hash
                                            AND NEW.frontier = OLD.frontier)))) THEN
      RETURN NEW;
    END IF;
  END IF;
  IF coalesce(current_setting('audit.maintenance', true), '') = 'on' THEN
    IF audit_in_maintenance(TG_RELID) THEN
      IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
      RETURN NEW;
    END IF;
  END IF;
  RAISE EXCEPTION 'witness states are kept and move forwards only: % of % refused',
    TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_cosignature_append_only BEFORE UPDATE OR DELETE
  ON audit_witnesscosignature FOR EACH ROW EXECUTE FUNCTION audit_cosignature_guard();
CREATE TRIGGER audit_cosignature_no_truncate BEFORE TRUNCATE
  ON audit_witnesscosignature FOR EACH STATEMENT EXECUTE FUNCTION audit_cosignature_guard();
CREATE TRIGGER audit_witnessstate_kept BEFORE INSERT OR UPDATE OR DELETE
  ON audit_witnessstate FOR EACH ROW EXECUTE FUNCTION audit_witnessstate_guard();
CREATE TRIGGER audit_witnessstate_no_truncate BEFORE TRUNCATE
  ON audit_witnessstate FOR EACH STATEMENT EXECUTE FUNCTION audit_witnessstate_guard();
"""
PG_REVERSE = """
DROP TRIGGER IF EXISTS audit_cosignature_append_only ON audit_witnesscosignature;
DROP TRIGGER IF EXISTS audit_cosignature_no_truncate ON audit_witnesscosignature;
DROP TRIGGER IF EXISTS audit_witnessstate_kept ON audit_witnessstate;
DROP TRIGGER IF EXISTS audit_witnessstate_no_truncate ON audit_witnessstate;
DROP FUNCTION IF EXISTS audit_cosignature_guard();
DROP FUNCTION IF EXISTS audit_witnessstate_guard();
"""

SQLITE_FORWARD = [
    """CREATE TRIGGER audit_cosignature_append_only_update BEFORE UPDATE
    ON audit_witnesscosignature WHEN NOT audit_maintenance()
    BEGIN SELECT RAISE(ABORT, 'witness cosignatures are append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_cosignature_append_only_delete BEFORE DELETE
    ON audit_witnesscosignature WHEN NOT audit_maintenance()
    BEGIN SELECT RAISE(ABORT, 'witness cosignatures are append-only: DELETE refused'); END""",
    """CREATE TRIGGER audit_witnessstate_kept_insert BEFORE INSERT ON audit_witnessstate
    WHEN NOT audit_maintenance() AND NOT (NEW.size = 0 AND NEW.root_hash = '')
    BEGIN SELECT RAISE(ABORT, 'witness states start at size 0: INSERT refused'); END""",
    """CREATE TRIGGER audit_witnessstate_kept_update BEFORE UPDATE ON audit_witnessstate
    WHEN NOT audit_maintenance() AND NOT (
        NEW.id = OLD.id AND NEW.name = OLD.name
        AND (NEW.size > OLD.size
             OR (NEW.size = OLD.size
                 AND (OLD.root_hash = '' OR (NEW.root_hash = OLD.root_hash
                                             AND NEW.frontier = OLD.frontier)))))
    BEGIN SELECT RAISE(ABORT, 'witness states move forwards only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_witnessstate_kept_delete BEFORE DELETE ON audit_witnessstate
    WHEN NOT audit_maintenance()
    BEGIN SELECT RAISE(ABORT, 'witness states are kept: DELETE refused'); END""",
]
SQLITE_REVERSE = [
    f"DROP TRIGGER IF EXISTS {name}" for name in (
        "audit_cosignature_append_only_update", "audit_cosignature_append_only_delete",
        "audit_witnessstate_kept_insert", "audit_witnessstate_kept_update",
        "audit_witnessstate_kept_delete")
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
        ("audit", "0007_witness_cosignatures"),
    ]

    operations = [
        migrations.RunPython(forward, reverse),
    ]
