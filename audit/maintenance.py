"""The one way past the audit tables' write protection: database maintenance by the owner.

The triggers (migration 0003) refuse to rewrite history, with one exemption so that a test
suite can empty the database between tests (pytest-django's flush):

- PostgreSQL: the session setting ``audit.maintenance = 'on'`` *and* a current role that is
  a superuser or a member of the table's owner. The application's own role (see
  ``manage.py audit_db_roles``) is neither, so setting the flag does nothing for it; the owner
  could drop the triggers anyway, so the exemption gives it nothing new.
- SQLite (no roles): the SQL function ``audit_maintenance()``, registered on each Django
  connection, returns true only inside ``maintenance_mode()``. Any other client (the sqlite3
  shell) does not have the function, so its UPDATE/DELETE of a sealed row fails too.

The SQL of both lives in audit.bulk. Only the ``flush`` command override uses this, and only
when ``settings.AUDIT_ALLOW_FLUSH`` (set by the test settings alone) is true.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections

from audit.bulk import maintenance_flag_set, maintenance_function_register

_maintenance = contextvars.ContextVar("audit_maintenance", default=False)


def register_sqlite_function(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: the SQLite function the triggers ask."""
    maintenance_function_register(connection, _maintenance.get)


@contextmanager
def maintenance_mode(using: str = "default") -> Iterator[None]:
    connection = connections[using]
    token = _maintenance.set(True)
    maintenance_flag_set(connection, on=True)
    try:
        yield
    finally:
        _maintenance.reset(token)
        maintenance_flag_set(connection, on=False)
