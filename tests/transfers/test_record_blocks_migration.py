"""Migration 0004: records stored the old way (one Fernet token of each record's values) are
moved into blocks, and read back the same through the new layout."""

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
