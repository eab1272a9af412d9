"""The consent app's raw SQL: set-based writes a campaign of 270,000 subjects needs, and
per-row conditional UPDATEs sent as one ``executemany`` instead of one ORM query per row.

Services call these as plain functions; nothing else in the app writes SQL by hand. Every
statement runs on the default connection inside the caller's transaction (it opens none), takes
datetimes as aware values (adapted here for the backend) and works on SQLite and PostgreSQL:
the one difference between them (how a UUID is made in SQL) is `_uuid_sql`, the only vendor
branch in the app's writes. Each function's docstring states its statement's contract:

- **idempotent inserts**: ``INSERT ... ON CONFLICT (<the unique key>) DO NOTHING``, so a retry
  or a concurrent run adds no second row;
- **guarded updates**: ``UPDATE ... WHERE id = %s AND status = <what the row must still be>``,
  so an update never overwrites a state another writer (a status callback, the settler)
  reached first.

`tests/consent/test_bulk.py` holds each statement to its contract on the backend under test.

One read lives here too, at the end: the consent page's link query (`link_request_joined`, a
five-table join PREPAREd per PostgreSQL connection), with its own contract there and in
`tests/consent/test_link_query.py`.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.db.models import QuerySet

from consent.models import Campaign, ConsentLink, ConsentRequest, SmsMessage
from governance.models import DataSubject, SubjectConsentState

Status = SmsMessage.Status


def _at(value: dt.datetime | None):
    return connection.ops.adapt_datetimefield_value(value)


def _uuid_sql() -> str:
    """A fresh random UUID as SQL, in the form Django stores a UUIDField on this backend."""
    if connection.vendor == "postgresql":
        return "gen_random_uuid()"
    return "lower(hex(randomblob(16)))"  # SQLite: Django keeps UUIDs as 32 hex characters


# --- launching a campaign -----------------------------------------------------------------


def requests_insert(*, campaign_id: int, subjects: QuerySet, expires_at: dt.datetime,
                    now: dt.datetime) -> int:
    """One ``created`` ConsentRequest of campaign ``campaign_id`` for each subject of the
    queryset ``subjects``, each with a fresh random ``public_id``, in one INSERT ... SELECT.

    Idempotent: a subject the campaign already asks is skipped (unique campaign, subject).
    Returns how many rows were inserted (0 when the backend cannot tell)."""
    sub_sql, sub_params = subjects.values("id").query.sql_with_params()
    # The subquery is SQL compiled by the ORM, the UUID expression a constant.
    sql = ("INSERT INTO consent_consentrequest (campaign_id, subject_id, public_id,"  # noqa: S608
           " status, created_at, expires_at, reminders_sent, verify_failures)"
           f" SELECT %s, s.id, {_uuid_sql()}, %s, %s, %s, 0, 0 FROM ({sub_sql}) s"
           " WHERE true ON CONFLICT (campaign_id, subject_id) DO NOTHING")
    with connection.cursor() as cursor:
        cursor.execute(sql, [campaign_id, ConsentRequest.Status.CREATED, _at(now),
                             _at(expires_at), *sub_params])
        return max(cursor.rowcount, 0)


def invitations_insert(*, campaign_id: int, not_before: dt.datetime, now: dt.datetime) -> None:
    """One invitation SmsMessage (sequence 0) for each request of campaign ``campaign_id``:
    ``queued`` from ``not_before``; ``skipped`` with error code ``no_mobile`` when the subject
    has no phone index, or ``opted_out`` when the number opted out (SmsOptOut).

    Idempotent: a request that has its invitation already is skipped (unique request,
    purpose, sequence)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO consent_smsmessage (request_id, purpose, sequence, status, body_redacted,"
            " provider, attempts, error_code, claimed_by, not_before, created_at)"
            " SELECT r.id, %s, 0,"
            "  CASE WHEN s.phone_index = '' OR o.id IS NOT NULL THEN %s ELSE %s END, '', '', 0,"
            "  CASE WHEN s.phone_index = '' THEN 'no_mobile'"
            "       WHEN o.id IS NOT NULL THEN 'opted_out' ELSE '' END, '', %s, %s"
            " FROM consent_consentrequest r"
            " JOIN governance_datasubject s ON s.id = r.subject_id"
            " LEFT JOIN consent_smsoptout o ON o.phone_index = s.phone_index"
            "  AND s.phone_index <> ''"
            " WHERE r.campaign_id = %s"
            " ON CONFLICT (request_id, purpose, sequence) DO NOTHING",
            [SmsMessage.Purpose.INVITATION, Status.SKIPPED, Status.QUEUED, _at(not_before),
             _at(now), campaign_id])


# --- reminders ----------------------------------------------------------------------------


def reminders_insert(*, due: Sequence[tuple[int, int]], now: dt.datetime) -> None:
    """A ``queued`` reminder SmsMessage, due ``now``, for each ``(request_id, reminders_sent)``
    of ``due``, numbered ``reminders_sent + 1``, in one ``executemany``.

    Idempotent: a reminder is the row (request, "reminder", n), unique, so a tick that runs
    twice queues it once."""
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO consent_smsmessage (request_id, purpose, sequence, status,"
            " body_redacted, provider, attempts, error_code, claimed_by, not_before,"
            " created_at) VALUES (%s, %s, %s, %s, '', '', 0, '', '', %s, %s)"
            " ON CONFLICT (request_id, purpose, sequence) DO NOTHING",
            [(request_id, SmsMessage.Purpose.REMINDER, sent + 1, Status.QUEUED, _at(now),
              _at(now)) for request_id, sent in due])


# --- the life of one message ----------------------------------------------------------------


def sms_mark_claimed(rows: Iterable[tuple], *, worker: str, provider: str,
                     notice_id: int | None, notice_hash: str, now: dt.datetime) -> None:
    """``queued -> sending`` for each ``(message_id, link_id, body_redacted)`` of ``rows``:
    the attempt counted, the claim (``worker``, ``now``), the link, the redacted body, the
    provider and the notice carried recorded.

    Guarded: only a row still ``queued`` changes (the caller holds it locked)."""
    with connection.cursor() as cursor:
        cursor.executemany(
            "UPDATE consent_smsmessage SET status = %s, attempts = attempts + 1,"
            " claimed_by = %s, claimed_at = %s, link_id = %s, body_redacted = %s,"
            " provider = %s, notice_id = %s, notice_hash = %s WHERE id = %s AND status = %s",
            [(Status.SENDING, worker[:64], _at(now), link_id, redacted, provider, notice_id,
              notice_hash, message_id, Status.QUEUED) for message_id, link_id, redacted in rows])


def sms_mark_submitted(rows: Iterable[tuple[int, str]], *, provider: str,
                       now: dt.datetime) -> None:
    """``sending | unknown -> submitted`` for each ``(message_id, provider_sid)`` of ``rows``:
    the provider took the message.

    Guarded: a row a status callback already moved past ``sending``/``unknown`` keeps its
    state."""
    with connection.cursor() as cursor:
        cursor.executemany(
            "UPDATE consent_smsmessage SET status = %s, provider_sid = %s, provider = %s,"
            " submitted_at = %s, status_at = %s WHERE id = %s AND status IN (%s, %s)",
            [(Status.SUBMITTED, sid, provider, _at(now), _at(now), message_id, Status.SENDING,
              Status.UNKNOWN) for message_id, sid in rows])


def sms_mark_outcome(rows: Iterable[tuple[int, str]], *, status: str,
                     now: dt.datetime) -> None:
    """``sending -> status`` (``failed`` or ``unknown``) for each ``(message_id, error_code)``
    of ``rows``, the error code cut to its column's 32 characters.

    Guarded: only a row still ``sending`` changes."""
    with connection.cursor() as cursor:
        cursor.executemany(
            "UPDATE consent_smsmessage SET status = %s, error_code = %s, status_at = %s"
            " WHERE id = %s AND status = %s",
            [(status, error_code[:32], _at(now), message_id, Status.SENDING)
             for message_id, error_code in rows])


def sms_mark_found(*, message_id: int, provider_sid: str, now: dt.datetime) -> int:
    """``sending | unknown -> submitted`` for one message the provider's records show it
    sent, with the sid found there. Returns 1 if the row changed, else 0.

    Guarded: only a row still ``sending``/``unknown`` and without a sid changes (a status
    callback that settled it first wins)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE consent_smsmessage SET status = %s, provider_sid = %s,"
            " submitted_at = %s, status_at = %s WHERE id = %s AND status IN (%s, %s)"
            " AND provider_sid IS NULL",
            [Status.SUBMITTED, provider_sid, _at(now), _at(now), message_id, Status.SENDING,
             Status.UNKNOWN])
        return cursor.rowcount


# --- the consent page's link query (issue 19: the page's one read, prepared) -----------------
#
# `link_request_joined` below states its contract; the rest of this section serves it.


@dataclass(frozen=True)
class _LinkTable:
    """One model of the link query: its alias in the SQL and the fields read of it, in the
    model's field order (the order `Model.from_db` takes them)."""

    model: type
    alias: str
    fields: tuple

    @classmethod
    def of(cls, model, alias: str, names: Sequence[str]) -> _LinkTable:
        fields = tuple(f for f in model._meta.concrete_fields if f.name in names)
        if len(fields) != len(names):
            raise ValueError(f"{model.__name__} has no field among {names}")
        return cls(model, alias, fields)

    def table(self) -> str:
        return f"{connection.ops.quote_name(self.model._meta.db_table)} {self.alias}"

    def column(self, name: str) -> str:
        return f"{self.alias}.{connection.ops.quote_name(self.model._meta.get_field(name).column)}"

    def columns(self) -> list[str]:
        return [self.column(field.name) for field in self.fields]

    def values(self, row: Sequence, db) -> list:
        """``row``'s values for these fields as the ORM loads them on connection ``db``."""
        values = list(row)
        for index, col, converters in self._converters(db):
            for convert in converters:
                values[index] = convert(values[index], col, db)
        return values

    def _converters(self, db) -> list[tuple]:
        """(position, column, converters) for each field the ORM converts on ``db``, found
        as the ORM's compiler finds them (the backend's, then the field's), once per
        connection."""
        found = _converters_on.setdefault(db, {})
        if self.alias not in found:
            columns = [(index, field.get_col(self.alias))
                       for index, field in enumerate(self.fields)]
            found[self.alias] = [
                (index, col, converters) for index, col in columns
                if (converters := db.ops.get_db_converters(col) + col.get_db_converters(db))]
        return found[self.alias]

    def instance(self, row: Sequence, db):
        return self.model.from_db(db.alias, [f.attname for f in self.fields],
                                  self.values(row, db))


_converters_on: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # per connection


_LINK_REQUEST = _LinkTable.of(ConsentRequest, "r", (
    "id", "public_id", "status", "opened_at", "expires_at", "locked_until", "campaign",
    "subject"))
_LINK_CAMPAIGN = _LinkTable.of(Campaign, "c", ("id", "status", "items", "plan", "subject_kind"))
_LINK = _LinkTable.of(ConsentLink, "l", ("via_code",))
_LINK_SUBJECT = _LinkTable.of(DataSubject, "s", ("id", "kind", "public_id"))
_LINK_STATE = _LinkTable.of(SubjectConsentState, "st", (
    "id", "plan", "subject", "fields_granted", "fields_declined", "objected", "withdrawn_at"))
_LINK_ROW = (_LINK_REQUEST, _LINK_CAMPAIGN, _LINK, _LINK_SUBJECT, _LINK_STATE)  # SELECT order


def _link_sql(token_hash: str, now: str) -> str:
    """The join with ``token_hash`` and ``now`` as its parameters' placeholders."""
    request, campaign, link, subject, state = _LINK_ROW
    columns = ", ".join(name for part in _LINK_ROW for name in part.columns())
    # Every name comes from the models' _meta, every value is a parameter.
    return (f"SELECT {columns} FROM {link.table()}"  # noqa: S608
            f" JOIN {request.table()} ON {request.column('id')} = {link.column('request')}"
            f" JOIN {campaign.table()} ON {campaign.column('id')} = {request.column('campaign')}"
            f" JOIN {subject.table()} ON {subject.column('id')} = {request.column('subject')}"
            f" LEFT JOIN {state.table()} ON {state.column('plan')} = {campaign.column('plan')}"
            f" AND {state.column('subject')} = {request.column('subject')}"
            f" WHERE {link.column('token_hash')} = {token_hash}"
            f" AND {link.column('revoked_at')} IS NULL AND {link.column('expires_at')} > {now}")


@functools.cache
def _link_statement() -> tuple[str, str]:
    """(the plain statement, the name it is prepared under: a new one when its text changes)."""
    sql = _link_sql("%s", "%s")
    return sql, "consent_link_request_" + hashlib.sha256(sql.encode()).hexdigest()[:12]


def link_statement_name() -> str:
    """The name of the prepared statement (for tests: pg_prepared_statements)."""
    return _link_statement()[1]


def link_request_joined(*, token_hash: str, now: dt.datetime) -> ConsentRequest | None:
    """The request behind the live link (not revoked, not expired at ``now``) whose token
    hashes to ``token_hash``, in one query; None when there is no such link.

    - **What it returns**: a ConsentRequest as `Model.from_db` builds it, with id, public_id,
      status, opened_at, expires_at, locked_until, campaign_id and subject_id loaded;
      ``.campaign`` (id, status, items, plan_id, subject_kind) and ``.subject`` (id, kind,
      public_id) loaded and cached as the ORM's ``select_related`` caches them;
      ``.consent_state``, the subject's SubjectConsentState for the campaign's plan (LEFT
      JOIN: id, plan_id, subject_id, fields_granted, fields_declined, objected, withdrawn_at)
      or None; ``.via_code``, the link came from the way back in (`/c/`). Every other column
      is deferred: a field added to a model later is read from the database on first access
      (one query), never a stale or missing value. The values are the ORM's own: each column
      goes through the converters the ORM's compiler would apply (`_LinkTable.values`).
    - **Its SQL follows the models**: every table and column name comes from the models'
      ``_meta`` (`_LinkTable`, `_link_sql`); only the shape of the join is written here.
    - **When it prepares**: on PostgreSQL outside a transaction (autocommit on), each database
      connection PREPAREs the statement once, under a name hashed from its text (a changed
      statement gets a new name), and EXECUTEs it from then on. Inside a transaction, and on
      SQLite, it runs the plain statement. If PREPARE or EXECUTE fails (a pooler or a
      ``DEALLOCATE`` dropped the statement; a session it lost track of holds the name) it
      forgets the statement, drops the name, answers with the plain statement and prepares
      again on the next call. Outside a transaction such a failure aborts nothing of the
      caller's, which is why it never prepares inside one.
    - **Why**: the page resolves a link on every visit, and a campaign's links are opened by
      many merchants within minutes. Measured in-process on PostgreSQL (2026-12-01, issue
      19): the ORM's ``select_related`` query for the same rows cost 4-8 ms a visit (about
      2-3 ms building its SQL, 0.75 ms planning the join, on every call) against 0.7-1.4 ms
      for this prepared statement, and bench/consent_page.py fell from landing 0.58 / notice
      0.50-0.59 of its ceiling to 0.24-0.38 / 0.20-0.27 with the ORM query.

    `tests/consent/test_link_query.py` holds it to this contract: every loaded field equal to
    the ORM's, on either database, in and out of a transaction; on PostgreSQL the statement
    prepared once, reused, and prepared again after it was dropped."""
    row = _link_row(token_hash, now)
    if row is None:
        return None
    request_row, campaign_row, link_row, subject_row, state_row = _row_parts(row)
    db = connections[DEFAULT_DB_ALIAS]
    request = _LINK_REQUEST.instance(request_row, db)
    request.campaign = _LINK_CAMPAIGN.instance(campaign_row, db)
    request.subject = _LINK_SUBJECT.instance(subject_row, db)
    request.consent_state = (None if state_row[0] is None
                             else _LINK_STATE.instance(state_row, db))
    (request.via_code,) = _LINK.values(link_row, db)
    return request


def _row_parts(row: Sequence) -> list[Sequence]:
    """The row cut into each table's columns, in `_LINK_ROW`'s order."""
    parts, start = [], 0
    for part in _LINK_ROW:
        parts.append(row[start:start + len(part.fields)])
        start += len(part.fields)
    return parts


_NOT_EXECUTED = object()
_prepared_on: weakref.WeakSet = weakref.WeakSet()  # the driver connections holding it


def _link_row(token_hash: str, now: dt.datetime):
    if connection.vendor == "postgresql" and connection.get_autocommit():
        row = _link_row_prepared(token_hash, now)
        if row is not _NOT_EXECUTED:
            return row
    with connection.cursor() as cursor:
        cursor.execute(_link_statement()[0], [token_hash, _at(now)])
        return cursor.fetchone()


def _link_row_prepared(token_hash: str, now: dt.datetime):
    """The row by EXECUTE, preparing first on a connection that has not; `_NOT_EXECUTED`
    when the server refused (the statement is then forgotten and its name dropped)."""
    name = link_statement_name()
    driver = connection.connection  # connected by get_autocommit(); one per server session
    try:
        with connection.cursor() as cursor:
            if driver not in _prepared_on:
                cursor.execute(f"PREPARE {name}(text, timestamptz) AS {_link_sql('$1', '$2')}")
                _prepared_on.add(driver)
            cursor.execute(f"EXECUTE {name}(%s, %s)", [token_hash, now])
            return cursor.fetchone()
    except DatabaseError:
        _prepared_on.discard(driver)
        try:  # "already exists": prepared by a session we lost track of; start over
            with connection.cursor() as cursor:
                cursor.execute(f"DEALLOCATE {name}")
        except DatabaseError:
            pass  # "does not exist": dropped already
        return _NOT_EXECUTED
