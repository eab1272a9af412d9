"""The audit log's raw SQL and its backend differences, in one place.

Sealing, verification, maintenance and the role command call these as plain functions and
never look at ``connection.vendor`` themselves. Every function works on SQLite and
PostgreSQL and runs on the given (default) connection inside the caller's transaction,
opening none, except `sealed_entries`, which says when it opens its own. Each function's
docstring states its contract; the tests named there hold it to the ORM or to the database.

Two fast paths have rooms of their own, each with its contract and its test, because each is
a mechanism rather than a statement: `audit.fast_insert` (the INSERT every business
transaction pays for, held to ``save()`` by tests/audit/test_fast_insert.py) and
`audit.prefetch` (a helper thread reading a server-side cursor one chunk ahead, held to the
plain cursor by tests/audit/test_prefetch.py). `sealed_entries` here decides when the
latter is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F

from audit.models import AuditEvent, LogState
from audit.prefetch import prefetch_possible, rows_prefetched

# --- sealing ------------------------------------------------------------------------------


def log_state_locked() -> LogState:
    """The state row, read under the write lock that serialises sealers (it must exist).

    PostgreSQL: ``SELECT ... FOR UPDATE``. SQLite has no row locks: a no-op UPDATE takes the
    database's write lock now, not at the end of the batch, and then the row is read.
    tests/audit/test_concurrency.py runs concurrent sealers on both.
    """
    if connection.vendor == "sqlite":
        LogState.objects.filter(pk=LogState.SINGLETON_ID).update(size=F("size"))
        return LogState.objects.get(pk=LogState.SINGLETON_ID)
    return LogState.objects.select_for_update().get(pk=LogState.SINGLETON_ID)


def seals_write(updates: list[tuple[int, int, str]], sealed_at: datetime) -> None:
    """Give each still-unsealed event ``(id, seq, entry_hash)`` its seal and ``sealed_at``.

    Raises RuntimeError (rolling the caller's transaction back) if any of them was sealed
    meanwhile. PostgreSQL: one ``UPDATE ... FROM unnest(ids, seqs, hashes)`` with
    ``seq IS NULL`` in its WHERE, checked by its row count (Django's ``bulk_update`` builds a
    CASE per column whose cost grows with the square of the batch). SQLite: ``bulk_update``,
    safe there because the sealer holds the database's only write lock.
    """
    if connection.vendor != "postgresql":
        AuditEvent.objects.bulk_update(
            [AuditEvent(id=pk, seq=seq, entry_hash=digest, sealed_at=sealed_at)
             for pk, seq, digest in updates],
            ["seq", "entry_hash", "sealed_at"], batch_size=500)
        return
    ids, seqs, hashes = zip(*updates, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent AS e SET seq = v.seq, entry_hash = v.h, sealed_at = %s"
            " FROM unnest(%s::bigint[], %s::bigint[], %s::varchar[]) AS v(id, seq, h)"
            " WHERE e.id = v.id AND e.seq IS NULL",
            [sealed_at, list(ids), list(seqs), list(hashes)])
        if cursor.rowcount != len(updates):
            raise RuntimeError("audit sealing raced with another sealer; rolled back")


# --- verification -------------------------------------------------------------------------

ENTRY_COLUMNS = ("seq", "created_at", "actor_type", "actor_id", "action", "target_type",
                 "target_id", "details", "request_id", "entry_hash")

# PostgreSQL renders the timestamp in the canonical form itself and hands over the JSON text:
# parsing timestamps and building ORM rows in Python cost more than all the hashing.
SEALED_ENTRIES_SQL = """
SELECT seq, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       actor_type, actor_id, action, target_type, target_id, details::text, request_id,
       entry_hash
  FROM audit_auditevent WHERE seq IS NOT NULL ORDER BY seq
"""


def sealed_entries(chunk_size: int) -> Iterator[tuple]:
    """Every sealed entry as a tuple of `ENTRY_COLUMNS`, in seq order, memory kept flat.

    ``created_at`` comes as a datetime or as the canonical text (``audit.chain``'s
    ``format_timestamp``), ``details`` as a value or as its JSON text: the verifier accepts
    both. SQLite: the ORM's chunked iterator. PostgreSQL: `SEALED_ENTRIES_SQL` through a
    server-side cursor: when `audit.prefetch.prefetch_possible` (outside a transaction) a
    helper thread with its own connection reads it one chunk ahead, otherwise it streams in
    a transaction of its own on this connection.
    """
    if connection.vendor != "postgresql":
        yield from (AuditEvent.objects.filter(seq__isnull=False).order_by("seq")
                    .values_list(*ENTRY_COLUMNS).iterator(chunk_size=chunk_size))
        return
    if prefetch_possible():  # PostgreSQL renders a chunk while the caller hashes one
        yield from rows_prefetched(SEALED_ENTRIES_SQL, chunk_size, name="audit_verify")
        return
    connection.ensure_connection()
    with transaction.atomic(), connection.connection.cursor(name="audit_verify") as cursor:
        cursor.itersize = chunk_size
        cursor.execute(SEALED_ENTRIES_SQL)
        yield from cursor


# --- maintenance (audit.maintenance) ------------------------------------------------------


def maintenance_function_register(db_connection, is_on: Callable[[], bool]) -> None:
    """SQLite: give this connection the SQL function ``audit_maintenance()`` the triggers
    call, answering ``is_on()``. Other clients lack it, so their rewrites fail. PostgreSQL:
    nothing (its triggers read a session setting, `maintenance_flag_set`)."""
    if db_connection.vendor == "sqlite":
        db_connection.connection.create_function("audit_maintenance", 0,
                                                 lambda: 1 if is_on() else 0)


def maintenance_flag_set(db_connection, *, on: bool) -> None:
    """PostgreSQL: set the session's ``audit.maintenance`` to 'on' or 'off' (the triggers
    honour it for the owner or a superuser only). SQLite: nothing. Setting it off on a
    connection already closed is a no-op."""
    if db_connection.vendor != "postgresql":
        return
    if not on and db_connection.connection is None:
        return
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT set_config('audit.maintenance', %s, false)",
                       ["on" if on else "off"])


# --- database roles (manage.py audit_db_roles) --------------------------------------------


def roles_supported() -> bool:
    """Whether the database has roles to grant to (PostgreSQL; SQLite relies on triggers)."""
    return connection.vendor == "postgresql"


def database_name() -> str:
    return connection.settings_dict["NAME"]


def statements_run(statements: list[str]) -> None:
    """Run ``statements`` (the GRANT/REVOKE of `audit.roles`) in order, as given."""
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
