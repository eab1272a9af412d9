"""audit.prefetch yields what the plain server-side cursor yields (its contract)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from audit.bulk import SEALED_ENTRIES_SQL
from audit.prefetch import prefetch_possible, rows_prefetched
from audit.verification import audit_log_verify

pytestmark = pytest.mark.postgres


def _plain(sql: str) -> list[tuple]:
    connection.ensure_connection()
    with transaction.atomic(), connection.connection.cursor(name="plain") as cursor:
        cursor.itersize = 7
        cursor.execute(sql)
        return list(cursor)


def _helpers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("audit_prefetch")]


def test_it_yields_the_rows_of_the_plain_cursor_in_order(sealed_log):
    for chunk_size in (1, 5, 12, 1000):
        assert list(rows_prefetched(SEALED_ENTRIES_SQL, chunk_size)) == _plain(SEALED_ENTRIES_SQL)
    assert len(_plain(SEALED_ENTRIES_SQL)) == sealed_log
    assert not _helpers()


def test_a_caller_that_stops_early_stops_the_helper(sealed_log):
    rows = rows_prefetched(SEALED_ENTRIES_SQL, 2)
    assert next(rows)[0] == 0
    rows.close()
    assert not _helpers()


def test_an_error_in_the_helper_is_raised_in_the_caller(sealed_log):
    from django.db import utils

    with pytest.raises((utils.ProgrammingError, Exception), match="no_such_table"):
        list(rows_prefetched("SELECT * FROM no_such_table", 10))
    assert not _helpers()


def test_it_is_used_outside_a_transaction_only(sealed_log):
    assert prefetch_possible()
    with transaction.atomic():
        assert not prefetch_possible()  # the helper could not see this transaction's rows
        assert audit_log_verify().entries == sealed_log
    assert audit_log_verify().entries == sealed_log
