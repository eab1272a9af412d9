"""The audit event INSERT every business transaction pays for, without the ORM's costs.

Contract: ``insert_event(event)`` writes exactly the row ``event.save()`` would write for a
new, unsealed ``AuditEvent`` (the same nine content columns, read back equal; ``seq``,
``entry_hash`` and ``sealed_at`` empty) through the connection's ordinary cursor (so query
capture and execute wrappers still see it), then sets ``event.pk`` and ``event._state`` as
``save()`` does. No signal is sent (nothing listens for AuditEvent). The caller has checked
the values (audit.services.audit_record). tests/audit/test_fast_insert.py holds it to the
ORM on SQLite and PostgreSQL.

Why (bench/audit.py [1], 16 writer threads in one process): the writers are bound by their
Python time, and the ORM's save compiles its SQL on every call. On PostgreSQL two values also
cost more to bind than the rest of the row: psycopg quotes an aware datetime and Django's
``Jsonb`` wrapper in Python, about 20 and 12 µs a row. Both are sent as text literals
instead (ISO 8601 with its offset, and the JSON text Django's JSONField would produce, which
is ``json.dumps`` of the value); PostgreSQL casts them to the columns' types, timestamptz and
jsonb, to the same values.
"""

from __future__ import annotations

import json

from django.db import connections, router

from audit.models import AuditEvent

_INSERT_SQL = (
    "INSERT INTO audit_auditevent (created_at, actor_type, actor_id, action, target_type, "
    "target_id, details, request_id, entry_hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, '')"
)
_INSERT_RETURNING_SQL = _INSERT_SQL + " RETURNING id"
_DETAILS = AuditEvent._meta.get_field("details")
_dumps = json.dumps  # what django.db.models.JSONField(encoder=None) writes


def insert_event(event: AuditEvent) -> None:
    connection = connections[router.db_for_write(AuditEvent)]
    if connection.vendor == "postgresql":
        created_at = event.created_at.isoformat()  # aware: carries its UTC offset
        details = _dumps(event.details)
    else:
        created_at = connection.ops.adapt_datetimefield_value(event.created_at)
        details = _DETAILS.get_db_prep_value(event.details, connection)
    returning = connection.features.can_return_columns_from_insert  # SQLite < 3.35: no
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_RETURNING_SQL if returning else _INSERT_SQL, [
            created_at, event.actor_type, event.actor_id, event.action, event.target_type,
            event.target_id, details, event.request_id])
        event.pk = cursor.fetchone()[0] if returning else cursor.lastrowid
    event._state.adding = False
    event._state.db = connection.alias
