"""The consent app's raw SQL: set-based writes a campaign of 270,000 subjects needs, and
per-row conditional UPDATEs sent as one ``executemany`` instead of one ORM query per row.

Services call these as plain functions; nothing else in the app writes SQL by hand. Every
statement runs on the default connection inside the caller's transaction (it opens none), takes
datetimes as aware values (adapted here for the backend) and works on SQLite and PostgreSQL:
the one difference between them (how a UUID is made in SQL) is `_uuid_sql`, the only vendor
branch in the app. Each function's docstring states its statement's contract:

- **idempotent inserts**: ``INSERT ... ON CONFLICT (<the unique key>) DO NOTHING``, so a retry
  or a concurrent run adds no second row;
- **guarded updates**: ``UPDATE ... WHERE id = %s AND status = <what the row must still be>``,
  so an update never overwrites a state another writer (a status callback, the settler)
  reached first.

`tests/consent/test_bulk.py` holds each statement to its contract on the backend under test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from django.db import connection
from django.db.models import QuerySet

from consent.models import ConsentRequest, SmsMessage

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
