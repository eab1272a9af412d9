"""The PostgreSQL privileges of the application's role (run by the database owner).

The owner runs migrations; the web and worker processes connect as a separate role that
may INSERT audit entries, checkpoints and witness cosignatures and seal entries (UPDATE of
seq, entry_hash and sealed_at only), but has no UPDATE of other columns, no DELETE and no
TRUNCATE on those tables. It may read, create and update the sealer's state row
(``audit_logstate``) and the witnesses' states (``audit_witnessstate``) but never delete or
truncate them: without the first the sealer would start the log again at seq 0. The
triggers refuse the same even to the owner, unless it enters maintenance mode.
"""

from __future__ import annotations

import re

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
AUDIT_TABLES = ("audit_auditevent", "audit_checkpoint", "audit_witnesscosignature")
STATE_TABLES = ("audit_logstate", "audit_witnessstate")


class RoleNameError(ValueError):
    pass


def app_role_sql(*, role: str, database: str) -> list[str]:
    if not _ROLE_NAME.match(role):
        raise RoleNameError("role names here are lower-case letters, digits and _")
    db = '"' + database.replace('"', '""') + '"'
    audit = ", ".join(AUDIT_TABLES)
    states = ", ".join(STATE_TABLES)
    return [
        f"GRANT CONNECT ON DATABASE {db} TO {role}",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {audit} FROM {role}",
        f"REVOKE DELETE, TRUNCATE, REFERENCES, TRIGGER ON {states} FROM {role}",
        f"GRANT UPDATE (seq, entry_hash, sealed_at) ON audit_auditevent TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE "
        f"ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
    ]
