"""transfers.bulk keeps its contract on every database: what it writes is what it reads back,
and the answers are those of the plain ORM (this file runs on SQLite and on PostgreSQL)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from transfers import bulk
from transfers.models import QrMerchantId, Record

HELD, OTHER, UNKNOWN = "a" * 64, "b" * 64, "c" * 64


def test_the_qr_holders_it_inserts_are_the_holders_it_finds(outgoing_operator, merchant, user):
    operator_id = outgoing_operator.operator.pk
    bulk.qr_holdings_insert(operator_id=operator_id,
                            rows=[(merchant.pk, HELD), (user.pk, OTHER)])

    assert bulk.qr_holders(operator_id=operator_id, column="qr_index",
                           values=[HELD, UNKNOWN]) == {HELD: merchant.pk}
    assert bulk.qr_holders(operator_id=operator_id, column="subject_id",
                           values=[user.pk]) == {OTHER: user.pk}
    assert bulk.qr_holders(operator_id=operator_id, column="qr_index", values=[]) == {}
    assert QrMerchantId.objects.filter(operator_id=operator_id).count() == 2


def test_a_qr_id_held_twice_fails_the_whole_insert(outgoing_operator, merchant, user):
    operator_id = outgoing_operator.operator.pk
    bulk.qr_holdings_insert(operator_id=operator_id, rows=[(merchant.pk, HELD)])

    with pytest.raises(IntegrityError), transaction.atomic():
        bulk.qr_holdings_insert(operator_id=operator_id, rows=[(user.pk, OTHER), (user.pk, HELD)])
    assert QrMerchantId.objects.filter(operator_id=operator_id).count() == 1


def test_it_refuses_a_column_it_does_not_look_up(outgoing_operator):
    with pytest.raises(ValueError, match="no such column"):
        bulk.qr_holders(operator_id=outgoing_operator.operator.pk, column="operator_id",
                        values=[1])


def test_it_finds_exactly_the_subjects_recorded_under_the_plan(approved_plan, uploaded):
    recorded = sorted(Record.objects.filter(plan=approved_plan)
                      .values_list("subject_id", flat=True))
    unrecorded = max(recorded) + 1000

    found = bulk.recorded_subject_ids(plan_id=approved_plan.pk,
                                      subject_ids=[*recorded, unrecorded])

    assert sorted(found) == recorded
    assert bulk.recorded_subject_ids(plan_id=approved_plan.pk, subject_ids=[]) == []


def test_the_records_it_inserts_hold_the_values_given(approved_plan, uploaded):
    columns = bulk.RECORD_COLUMNS
    # A merchant has no balance (None) and a user has one: both kinds go back in as they were.
    originals = [Record.objects.filter(plan=approved_plan, kind=kind).values_list(*columns)
                 .order_by("subject_id").first() for kind in ("merchant", "user")]
    assert originals[0][-1] is None and originals[1][-1] is not None
    Record.objects.filter(plan=approved_plan,
                          subject_id__in=[row[4] for row in originals]).delete()

    bulk.records_insert(originals)

    stored = sorted(Record.objects.filter(subject_id__in=[row[4] for row in originals])
                    .values_list(*columns), key=lambda row: row[5])
    assert stored == sorted(originals, key=lambda row: row[5])
