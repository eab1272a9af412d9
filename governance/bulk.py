"""Governance's fast paths: every COPY, raw SQL statement and database-vendor branch of the app.

Services and selectors read as plain ORM and call in here where a plain query costs too much
for a whole plan (millions of subjects) or must touch every table at once. Each function
states its contract: what it returns or writes, the same on every database. On PostgreSQL it
takes the fast path named in its docstring; elsewhere (SQLite, the default test database) it
does the same through the ORM, so both paths stay side by side and are kept correct together.
Tests of the callers run on both databases.

- `streamed`: a ``values_list`` query's rows through psycopg's binary server-side cursor.
- `id_in`: an ``id__in`` value that is one array parameter.
- `subjects_known_by_external_id`: a batch of subjects by external id, one array lookup.
- `ascending_subject_ids_split`: the subject ids of a notice query, in two parts by the
  time notified, packed by the database.
- `subjects_write`: a batch of new and changed subjects, by COPY and one UPDATE.
- `subjects_batch_size`: how many rows `subjects_write` takes at a time.
- `encrypted_rows_count`, `encrypted_rows_rotate`: every encrypted column, table by table.
"""

from __future__ import annotations

import itertools
import sys
from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from governance.crypto import bulk_encrypter
from governance.models import DataSubject, SubjectNotice, new_public_id


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


# --- Streaming rows ---------------------------------------------------------------------------

_cursor_numbers = itertools.count(1)


def streamed(rows: QuerySet, chunk_size: int) -> Iterator[tuple]:
    """The tuples of ``rows`` (a ``values_list`` query), ``chunk_size`` at a time.

    Contract: yields exactly the tuples ``rows.iterator()`` would (``rows`` must be a
    ``values_list`` query whose columns have no Django converters on PostgreSQL: text,
    numbers, booleans, timestamptz, JSON read as text), in the query's order. On PostgreSQL
    it reads them through psycopg's binary server-side cursor; elsewhere it is
    ``rows.iterator(chunk_size=...)``. Why: Django's loader for a timestamptz in text costs
    about 6 µs a value against under 1 µs for psycopg's binary one, and a subject's row in
    ``plan_decisions`` carries up to four of them (withdrawn, expires, early request,
    notice). A column that needs a Django converter (a custom field, a JSONField read as
    JSON) must not be read through here: add it to the query as text, or read that query
    with ``.iterator()``.
    """
    if not _postgresql():
        yield from rows.iterator(chunk_size=chunk_size)
        return
    sql, params = rows.query.sql_with_params()
    connection.ensure_connection()
    raw = connection.connection
    # Outside a transaction a server-side cursor must be held past the implicit commit.
    with raw.cursor(name=f"governance_rows_{next(_cursor_numbers)}", binary=True,
                    withhold=connection.get_autocommit()) as cursor:
        cursor.itersize = chunk_size
        cursor.execute(sql, params)
        yield from cursor


def id_in(ids: list[int]):
    """``ids`` for an ``id__in`` filter: on PostgreSQL one array parameter instead of one
    parameter per id (Django and psycopg spend a few microseconds on each of thousands);
    elsewhere the list itself. Same rows either way."""
    if _postgresql():
        return RawSQL("SELECT unnest(%s::bigint[])", (ids,))
    return ids


# --- Subjects by external id ------------------------------------------------------------------

_LOOKUP_CHUNK = 5000


def subjects_known_by_external_id(*, operator_id: int, kind: str, external_ids: list[str]
                                  ) -> dict[str, tuple[int, str]]:
    """External id -> (subject id, public id) for those of ``external_ids`` that the operator
    holds as subjects of ``kind``. On PostgreSQL one query with the ids as one array
    parameter; elsewhere the ORM, 5,000 ids a query."""
    if _postgresql():
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT external_id, id, public_id FROM {_SUBJECTS} "  # noqa: S608
                           "WHERE source_operator_id = %s AND kind = %s "
                           "AND external_id = ANY(%s)", [operator_id, kind, external_ids])
            return {external_id: (pk, public_id)
                    for external_id, pk, public_id in cursor.fetchall()}
    known = {}
    for start in range(0, len(external_ids), _LOOKUP_CHUNK):
        known.update((external_id, (pk, public_id)) for external_id, pk, public_id
                     in DataSubject.objects.filter(
                         source_operator_id=operator_id, kind=kind,
                         external_id__in=external_ids[start:start + _LOOKUP_CHUNK])
                     .values_list("external_id", "id", "public_id"))
    return known


_SUBJECTS = DataSubject._meta.db_table


# --- Subject ids of notices, packed -----------------------------------------------------------

# Subject ids per packed query: a few megabytes at a time, never one buffer per plan.
_IDS_PER_QUERY = 500_000


def ascending_subject_ids_split(notices: QuerySet[SubjectNotice], at: datetime
                                ) -> tuple[array, array]:
    """The subject ids of ``notices`` notified at or before ``at``, and of those notified
    after it: each ascending, as 8-byte integers (``array("q")``).

    On PostgreSQL the database sorts and packs both into a bytea each (int8send: big-endian)
    in one scan per range of 500,000 subject ids, unpacked here in native byte order: a row
    per id through a cursor, or a COPY parsed in Python, cost about a microsecond of Python
    each, and a scan per part cost a quarter more than one scan for both. Elsewhere the ORM
    streams them."""
    parts = (array("q"), array("q"))
    ordered = notices.order_by("subject_id")
    if not _postgresql():
        for part, wanted in zip(parts, (Q(notified_at__lte=at), Q(notified_at__gt=at)),
                                strict=True):
            part.extend(ordered.filter(wanted).values_list("subject_id", flat=True)
                        .iterator(chunk_size=10_000))
        return parts
    ordered_ids = ordered.values_list("subject_id", flat=True)
    first, last = ordered_ids.first(), ordered_ids.last()
    if first is None:
        return parts
    for start in range(first, last + 1, _IDS_PER_QUERY):
        sql, params = (notices.filter(subject_id__gte=start,
                                      subject_id__lt=start + _IDS_PER_QUERY)
                       .order_by().values_list("subject_id", "notified_at")
                       .query.sql_with_params())
        packed = "string_agg(int8send(n.subject_id), ''::bytea ORDER BY n.subject_id)"
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {packed} FILTER (WHERE n.notified_at <= %s), "  # noqa: S608
                           f"{packed} FILTER (WHERE n.notified_at > %s) "
                           f"FROM ({sql}) n", (at, at, *params))
            packed_parts = cursor.fetchone()
        for part, packed_ids in zip(parts, packed_parts, strict=True):
            if packed_ids:
                unpacked = array("q", bytes(packed_ids))
                if sys.byteorder == "little":
                    unpacked.byteswap()
                part.extend(unpacked)
    return parts


# --- Writing subjects -------------------------------------------------------------------------


@dataclass
class SubjectsWritten:
    """What `subjects_write` did with one batch."""

    created: int = 0
    updated: int = 0
    ids: dict[str, int] = field(default_factory=dict)  # external_id -> DataSubject.pk
    public_ids: dict[str, str] = field(default_factory=dict)  # external_id -> public id


def subjects_batch_size(requested: int) -> int:
    """How many rows to hand `subjects_write` at a time: on PostgreSQL at least 50,000 (each
    batch is one lookup, one UPDATE and one COPY, so fewer, larger batches); elsewhere
    ``requested``."""
    return max(requested, 50_000) if _postgresql() else requested


def subjects_write(*, operator_id: int, kind: str, prepared: Mapping[str, Mapping[str, Any]],
                   now: datetime, known: Mapping[str, tuple[int, str]] | None = None
                   ) -> SubjectsWritten:
    """Create or update the operator's subjects of ``kind``, one per external id.

    ``prepared``: external id -> the subject's columns (``external_id``, and optionally
    ``phone`` (plain, normalized) with its ``phone_index``, and ``brn_hash``; the phone and its
    index are written together, never one without the other). A subject that exists gets
    the columns given and ``updated_at = now``; a column not given keeps its stored value.
    A new subject gets a fresh public id and ``created_at = updated_at = now``. The phone is
    stored encrypted under the first key. Returns the ids and public ids of every subject of
    the batch and how many were created and updated. Two transactions creating the same
    subject: the loser raises IntegrityError.

    On PostgreSQL the known subjects are updated by one UPDATE from arrays and the new ones
    written with COPY, their ids drawn from the sequence first (one array); ``known`` (the
    caller's `subjects_known_by_external_id` of the batch, in this transaction) saves the
    lookup. Elsewhere the ORM: the existing subjects loaded, then ``bulk_create`` and
    ``bulk_update`` (``known`` unused).
    """
    if _postgresql():
        return _subjects_write_copy(operator_id, kind, prepared, now, known)
    return _subjects_write_orm(operator_id, kind, prepared, now)


def _subjects_write_orm(operator_id: int, kind: str, prepared: Mapping[str, Mapping[str, Any]],
                        now: datetime) -> SubjectsWritten:
    written = SubjectsWritten()
    existing = {s.external_id: s for s in DataSubject.objects.filter(
        source_operator_id=operator_id, kind=kind, external_id__in=list(prepared))
        .defer("phone")}
    written.public_ids.update((s.external_id, s.public_id) for s in existing.values())
    to_create, to_update, update_fields = [], [], {"updated_at"}
    for external_id, values in prepared.items():
        subject = existing.get(external_id)
        if subject is None:
            to_create.append(DataSubject(source_operator_id=operator_id, kind=kind,
                                         created_at=now, updated_at=now, **values))
            continue
        for name, value in values.items():
            if name != "external_id":
                setattr(subject, name, value)
                update_fields.add(name)
        subject.updated_at = now
        to_update.append(subject)
    DataSubject.objects.bulk_create(to_create, batch_size=1000)
    if to_update:
        DataSubject.objects.bulk_update(to_update, sorted(update_fields), batch_size=1000)
    written.created, written.updated = len(to_create), len(to_update)
    if to_create:
        created = DataSubject.objects.filter(
            source_operator_id=operator_id, kind=kind,
            external_id__in=[s.external_id for s in to_create]).values_list(
                "external_id", "id", "public_id")
        for external_id, pk, public_id in created:
            written.ids[external_id], written.public_ids[external_id] = pk, public_id
    written.ids.update({s.external_id: s.pk for s in to_update})
    return written


_UPDATE_FROM_ARRAYS = f"""
    UPDATE {_SUBJECTS} AS s SET
        phone = CASE WHEN i.has_phone THEN i.phone ELSE s.phone END,
        phone_index = CASE WHEN i.has_phone THEN i.phone_index ELSE s.phone_index END,
        brn_hash = CASE WHEN i.has_brn THEN i.brn_hash ELSE s.brn_hash END,
        updated_at = %s
    FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::bool[], %s::bool[])
        AS i(id, phone, phone_index, brn_hash, has_phone, has_brn)
    WHERE s.id = i.id"""  # noqa: S608


def _copy_escape(text: str) -> str:
    """A value as COPY text format wants it (backslash, tab, newline, carriage return)."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                .replace("\r", "\\r"))
    return text


def _subjects_write_copy(operator_id: int, kind: str,
                         prepared: Mapping[str, Mapping[str, Any]], now: datetime,
                         known: Mapping[str, tuple[int, str]] | None) -> SubjectsWritten:
    """PostgreSQL: look the batch's subjects up by external id (one indexed query, unless the
    caller did), UPDATE the known ones from arrays, COPY the new ones with ids drawn from the
    sequence beforehand."""
    written = SubjectsWritten()
    encrypt = bulk_encrypter()
    if known is None:
        known = subjects_known_by_external_id(operator_id=operator_id, kind=kind,
                                              external_ids=list(prepared))
    existing = {}
    for external_id in prepared:
        if external_id in known:
            existing[external_id], written.public_ids[external_id] = known[external_id]
    with connection.cursor() as cursor:
        if existing:
            columns: tuple[list, ...] = ([], [], [], [], [], [])
            for external_id, pk in existing.items():
                values = prepared[external_id]
                has_phone, has_brn = "phone" in values, "brn_hash" in values
                for column, value in zip(columns, (
                        pk, encrypt(values["phone"].encode()).decode() if has_phone else "",
                        values.get("phone_index", ""), values.get("brn_hash", ""),
                        has_phone, has_brn), strict=True):
                    column.append(value)
            cursor.execute(_UPDATE_FROM_ARRAYS, [now, *columns])
        new = [values for external_id, values in prepared.items() if external_id not in existing]
        if new:
            cursor.execute("SELECT array_agg(nextval(pg_get_serial_sequence(%s, 'id'))) "
                           "FROM generate_series(1, %s)", [_SUBJECTS, len(new)])
            ids = cursor.fetchone()[0]  # one array: cheaper than a row per id
            sql = (f"COPY {_SUBJECTS} (id, kind, source_operator_id, external_id, public_id, "
                   "phone, phone_index, brn_hash, created_at, updated_at) FROM STDIN")
            # COPY text built here: the external id escaped, every other value is an integer,
            # a kind, hex, base64 or a timestamp.
            stamp, operator_id = now.isoformat(), int(operator_id)
            lines = []
            public_ids = written.public_ids
            with connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
                for pk, values in zip(ids, new, strict=True):
                    phone = values.get("phone")
                    token = encrypt(phone.encode()).decode() if phone else ""
                    public_ids[values["external_id"]] = public_id = new_public_id()
                    lines.append(f"{int(pk)}\t{kind}\t{operator_id}\t"
                                 f"{_copy_escape(values['external_id'])}\t{public_id}\t"
                                 f"{token}\t{values.get('phone_index', '')}\t"
                                 f"{values.get('brn_hash', '')}\t{stamp}\t{stamp}\n")
                    if len(lines) >= 5000:
                        copy.write("".join(lines).encode())
                        lines.clear()
                if lines:
                    copy.write("".join(lines).encode())
            written.ids.update(zip((v["external_id"] for v in new), ids, strict=True))
    written.created, written.updated = len(new), len(existing)
    written.ids.update(existing)
    return written


# --- Every encrypted column -------------------------------------------------------------------


@dataclass(frozen=True)
class EncryptedTable:
    """A table with encrypted columns: its name, primary-key column and encrypted columns."""

    table: str
    pk: str
    columns: tuple[str, ...]


def encrypted_rows_count(tables: list[EncryptedTable]) -> int:
    """How many rows of ``tables`` hold at least one non-empty encrypted value (one COUNT per
    table, raw SQL: the tables belong to several apps and are named, not modelled, here)."""
    qn = connection.ops.quote_name
    total = 0
    with connection.cursor() as cursor:
        for table in tables:
            where = " OR ".join(f"({qn(c)} IS NOT NULL AND {qn(c)} <> '')"
                                for c in table.columns)
            cursor.execute(f"SELECT COUNT(*) FROM {qn(table.table)} WHERE {where}")  # noqa: S608
            total += cursor.fetchone()[0]
    return total


def encrypted_rows_rotate(table: EncryptedTable, *, rewrite: Callable[[str], str],
                          batch_size: int,
                          on_progress: Callable[[int], None] | None = None) -> int:
    """Replace every non-empty encrypted value of ``table`` by ``rewrite(value)``; returns how
    many rows were rewritten.

    Rows are read in primary-key order, ``batch_size`` at a time, each batch in its own
    transaction and locked (``FOR UPDATE`` where the database has it) from read to write, so
    a concurrent change of a row is never overwritten with an older value. If ``rewrite``
    raises, the batch it was in is left untouched and the error propagates; earlier batches
    stay committed. ``on_progress(n)`` after each batch with the rows it rewrote.
    """
    qn = connection.ops.quote_name
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    pk = qn(table.pk)
    cols = ", ".join(qn(c) for c in table.columns)
    select = (f"SELECT {pk}, {cols} FROM {qn(table.table)} WHERE {pk} > %s "  # noqa: S608
              f"ORDER BY {pk} LIMIT %s{lock}")
    update = (f"UPDATE {qn(table.table)} SET "  # noqa: S608
              + ", ".join(f"{qn(c)} = %s" for c in table.columns) + f" WHERE {pk} = %s")
    last, count = None, 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(select, [last if last is not None else -1, batch_size])
            rows = cursor.fetchall()
            if not rows:
                break
            params = []
            for row in rows:
                values = [rewrite(v) if v else v for v in row[1:]]
                if any(row[1:]):
                    params.append([*values, row[0]])
            if params:
                cursor.executemany(update, params)
        last = rows[-1][0]
        count += len(params)
        if on_progress:
            on_progress(len(params))
    return count
