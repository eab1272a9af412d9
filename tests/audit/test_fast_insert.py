"""audit.fast_insert writes the row the ORM would (its contract), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import transaction

from audit.fast_insert import insert_event
from audit.models import AuditEvent

COLUMNS = ("created_at", "actor_type", "actor_id", "action", "target_type", "target_id",
           "details", "request_id", "seq", "entry_hash", "sealed_at")

AWKWARD_DETAILS = [
    {},
    {"version": 3, "fields": ["merchant.name", "merchant.phone"], "note": "검토 완료"},
    {"nested": {"b": [1, 2.5, None, True, False], "a": {"ü": "\u2028 \"quoted\" \\ tab\t"}},
     "big": 2 ** 62, "neg": -7, "float": 1e-7, "empty": "", "list": []},
    {"emoji": "🙂", "nul-free control": "\x01\x1f", "zero": 0.0},
]
TIMES = [datetime(2026, 12, 1, 13, 0, 0, 123456, tzinfo=UTC),
         datetime(2026, 12, 1, 13, 0, 0, tzinfo=UTC),  # no microseconds: isoformat drops them
         datetime(2026, 12, 1, 22, 0, 0, 1, tzinfo=timezone(timedelta(hours=9)))]


def _event(created_at, details, n) -> AuditEvent:
    return AuditEvent(created_at=created_at, actor_type="officer", actor_id=f"user:{n}",
                      action="plan.approved", target_type="transfer_plan",
                      target_id=str(n), details=details, request_id=f"req-{n}")


@pytest.mark.parametrize("created_at", TIMES)
@pytest.mark.parametrize("details", AWKWARD_DETAILS)
def test_it_writes_the_row_save_would_write(db, created_at, details):
    with transaction.atomic():
        by_orm = _event(created_at, details, 1)
        by_orm.save()
        fast = _event(created_at, details, 1)
        insert_event(fast)

    assert fast.pk is not None and fast.pk != by_orm.pk
    assert not fast._state.adding and fast._state.db == "default"
    rows = dict(AuditEvent.objects.filter(pk__in=[by_orm.pk, fast.pk])
                .values_list("pk", "created_at"))
    assert rows[fast.pk] == rows[by_orm.pk] == created_at
    orm_row, fast_row = (AuditEvent.objects.filter(pk=pk).values_list(*COLUMNS).get()
                         for pk in (by_orm.pk, fast.pk))
    assert fast_row == orm_row
    assert fast_row[COLUMNS.index("details")] == details
    assert fast_row[COLUMNS.index("seq"):] == (None, "", None)  # arrives unsealed


def test_the_insert_is_one_query_seen_by_query_capture(db, django_assert_num_queries):
    with transaction.atomic(), django_assert_num_queries(1):
        insert_event(_event(TIMES[0], {"n": 1}, 2))
