"""Migrations 0004-0006: what was stored one row (and one token) per record or subject moves
into blocks and groups, and reads back the same through the new layout."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.transfers.conftest import stored_values
from transfers import synthetic

BEFORE = [("transfers", "0003_drop_redundant_fk_indexes")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_records_stored_one_token_each_are_moved_into_blocks_with_their_values(
        approved_plan):
    from governance.models import DataSubject

    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("transfers")
    old = _migrate(BEFORE)
    rows = list(synthetic.rows("merchant", 1, 3)) + list(synthetic.rows("user", 1, 4))
    upload = old.get_model("transfers", "Upload").objects.create(
        plan_id=approved_plan.pk, operator_id=approved_plan.from_operator_id)
    batch = old.get_model("transfers", "UploadBatch").objects.create(
        upload=upload, batch_id="old", content_sha256="0")
    expected = {}
    for line, row in enumerate(rows, start=1):
        subject = DataSubject.objects.create(kind=row["kind"], external_id=row["external_id"],
                                             source_operator=approved_plan.from_operator)
        values = {k: v for k, v in row.items() if "." in k}
        old.get_model("transfers", "Record").objects.create(
            plan_id=approved_plan.pk, upload=upload, batch=batch, subject_id=subject.pk,
            kind=row["kind"], line=line, values=values,
            certificate_balance=values.get("user.certificate_balance"))
        expected[row["external_id"]] = values

    _migrate(latest)

    from transfers.models import Record, RecordBlock

    assert RecordBlock.objects.count() == 2  # one block per kind of the batch
    assert not Record.objects.filter(block__isnull=True).exists()
    assert stored_values(approved_plan) == expected


@pytest.mark.django_db(transaction=True)
def test_release_items_one_row_per_subject_become_groups_read_back_in_subject_order(
        approved_plan, uploaded):
    from transfers.selectors import release_subjects
    from transfers.services import release_export, release_request

    release = release_export(release_id=release_request(
        plan=approved_plan, by=("operator", "operator:SHINHAN")).pk)
    expected = list(release_subjects(release.pk))
    assert len(expected) == 20
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("transfers")
    old = _migrate([("transfers", "0005_record_values_in_blocks_only")])
    item = old.get_model("transfers", "ReleaseItem")
    item.objects.bulk_create(item(release_id=release.pk, subject_id=subject_id, fields=fields)
                             for subject_id, fields in reversed(expected))

    _migrate(latest)

    assert list(release_subjects(release.pk)) == expected
