"""Two batches racing for the same subjects: the database settles it, each subject once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from tests.transfers.conftest import ndjson
from transfers import synthetic
from transfers.models import Record, UploadBatch
from transfers.services import upload_batch_receive, upload_create

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_batches_with_the_same_subjects_store_each_subject_once(approved_plan):
    by = ("operator", "operator:KEPF")
    upload = upload_create(plan=approved_plan, by=by)
    bodies = {"left": ndjson(synthetic.rows("user", 1, 300)),
              "right": ndjson(synthetic.rows("user", 151, 300))}
    barrier = threading.Barrier(2)
    reports, errors = {}, []

    def send(batch_id: str) -> None:
        try:
            barrier.wait()
            result = upload_batch_receive(upload=upload, batch_id=batch_id,
                                          body=bodies[batch_id],
                                          content_type="application/x-ndjson", by=by)
            reports[batch_id] = result.batch
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Record.objects.count() == 450
    accepted = sorted(b.accepted_count for b in reports.values())
    assert accepted in ([150, 300], [300, 150])
    loser = min(reports.values(), key=lambda b: b.accepted_count)
    assert {r["code"] for r in loser.rejections} == {"duplicate_across_batches"}
    assert loser.rejected_count == 150
    assert UploadBatch.objects.count() == 2
