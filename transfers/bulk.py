"""The transfers app's raw SQL and COPY: the one place that knows which database it runs on.

An upload batch of 10,000 rows reads and writes tens of thousands of rows; on PostgreSQL
these functions use one ``= ANY(%s)`` query instead of chunked ``IN`` lists, and COPY instead
of INSERTs (measured in bench/upload.py). On any other database (SQLite in the default test
suite) they do the same with the ORM. Contract of every function here:

- the result, and the rows written, are the same on every database (tests run on both);
- it runs inside the caller's transaction and commits nothing itself;
- values are passed as query parameters, or, for COPY, are integers, hex digests or subject
  kinds checked by the caller: nothing written here needs escaping;
- a unique constraint still applies to COPY: a conflicting row fails the whole statement
  (``IntegrityError``), which the upload service settles by retrying its batch.

Services call these functions by what they mean and never branch on ``connection.vendor``.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from transfers.models import QrMerchantId, Record

# SQLite allows 32,766 parameters per statement (older builds 999): ORM lookups go in chunks.
_IN_CHUNK = 5000
# The columns of one `Record` row, in the order of the tuples `records_insert` takes.
RECORD_COLUMNS = ("plan_id", "upload_id", "batch_id", "block_id", "subject_id", "kind",
                  "line", "certificate_balance")


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


def qr_holders(*, operator_id: int, column: str, values: Sequence) -> dict[str, int]:
    """QR index -> holding subject id, among ``operator_id``'s QR merchant ids whose
    ``column`` (``"qr_index"`` or ``"subject_id"``) is one of ``values``. Empty for no values."""
    if column not in ("qr_index", "subject_id"):
        raise ValueError(f"qr_holders: no such column {column!r}")
    if not values:
        return {}
    if _postgresql():
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT qr_index, subject_id FROM {QrMerchantId._meta.db_table} "  # noqa: S608 - column checked above
                           f"WHERE operator_id = %s AND {column} = ANY(%s)",
                           [operator_id, list(values)])
            return dict(cursor.fetchall())
    values = list(values)
    return {index: sid for start in range(0, len(values), _IN_CHUNK)
            for index, sid in QrMerchantId.objects.filter(
                operator_id=operator_id, **{f"{column}__in": values[start:start + _IN_CHUNK]})
            .values_list("qr_index", "subject_id")}


def qr_holdings_insert(*, operator_id: int, rows: Sequence[tuple[int, str]]) -> None:
    """Insert one `QrMerchantId` per ``(subject id, QR index hex digest)`` of ``rows`` for
    ``operator_id`` (COPY on PostgreSQL, bulk_create elsewhere)."""
    if not rows:
        return
    if not _postgresql():
        QrMerchantId.objects.bulk_create(
            [QrMerchantId(operator_id=operator_id, subject_id=sid, qr_index=index)
             for sid, index in rows], batch_size=2000)
        return
    sql = (f"COPY {QrMerchantId._meta.db_table} (operator_id, subject_id, qr_index) "
           "FROM STDIN")
    with (connection.cursor() as cursor, connection.wrap_database_errors,
          cursor.cursor.copy(sql) as copy):
        # Integers and hex digests only: nothing to escape.
        copy.write("".join(f"{int(operator_id)}\t{int(sid)}\t{index}\n"
                           for sid, index in rows).encode())


def recorded_subject_ids(*, plan_id: int, subject_ids: Sequence[int]) -> list[int]:
    """Those of ``subject_ids`` that already have a `Record` under the plan ``plan_id``
    (in no particular order). Empty for no ids."""
    if not subject_ids:
        return []
    if _postgresql():
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT subject_id FROM {Record._meta.db_table} "  # noqa: S608
                           "WHERE plan_id = %s AND subject_id = ANY(%s)",
                           [plan_id, list(subject_ids)])
            return [sid for (sid,) in cursor.fetchall()]
    subject_ids = list(subject_ids)
    return [sid for start in range(0, len(subject_ids), _IN_CHUNK)
            for sid in Record.objects.filter(
                plan_id=plan_id, subject_id__in=subject_ids[start:start + _IN_CHUNK])
            .values_list("subject_id", flat=True)]


def records_insert(rows: Sequence[tuple]) -> None:
    """Insert one `Record` per tuple of ``rows``, its values in `RECORD_COLUMNS` order:
    integers, a subject kind the caller checked, and a balance that is an integer or None
    (COPY on PostgreSQL, bulk_create elsewhere)."""
    if not _postgresql():
        Record.objects.bulk_create(
            (Record(**dict(zip(RECORD_COLUMNS, row, strict=True))) for row in rows),
            batch_size=500)
        return
    sql = f"COPY {Record._meta.db_table} ({', '.join(RECORD_COLUMNS)}) FROM STDIN"
    with (connection.cursor() as cursor, connection.wrap_database_errors,
          cursor.cursor.copy(sql) as copy):
        # COPY text built here: every value is an integer or a kind the caller checked.
        null = "\\N"
        for start in range(0, len(rows), _IN_CHUNK):
            copy.write("".join([
                f"{int(p)}\t{int(u)}\t{int(b)}\t{int(k)}\t{int(s)}\t{kind}\t{int(line)}\t"
                f"{null if balance is None else int(balance)}\n"
                for p, u, b, k, s, kind, line, balance in rows[start:start + _IN_CHUNK]]
            ).encode())
