"""Uploading through the API: validation report, idempotent batches, totals, bad input."""

from __future__ import annotations

import json

import pytest

from audit.models import AuditEvent
from governance.models import DataSubject
from tests.transfers.conftest import ndjson, stored_block_tokens, stored_values
from transfers import synthetic
from transfers.models import Record, UploadBatch

pytestmark = pytest.mark.django_db


def _start(api, plan, declared=None):
    response = api.post(f"/api/plans/{plan.pk}/uploads", {"declared_totals": declared or {}})
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_a_batch_is_stored_encrypted_and_answered_with_every_rejected_row(
        kepf_api, approved_plan):
    upload_id = _start(kepf_api, approved_plan)
    good = list(synthetic.rows("merchant", 1, 3))
    bad_brn = synthetic.merchant_row(4) | {"merchant.business_registration_number":
                                           "123-45-67890"}
    bad_phone = synthetic.user_row(5) | {"user.phone": "02-123-4567"}
    unknown = synthetic.user_row(6) | {"user.shoe_size": 270}
    missing = {k: v for k, v in synthetic.user_row(7).items() if k != "user.phone"}
    bad_qr = synthetic.merchant_row(8) | {"merchant.qr_merchant_id": "QR-8"}
    body = ndjson(good + [bad_brn, bad_phone, unknown, missing, bad_qr]) + b"{not json\n"
    body += ndjson([good[0]])  # line 10: a duplicate of line 1
    response = kepf_api.put(f"/api/uploads/{upload_id}/batches/batch-1", body)
    assert response.status_code == 201, response.content
    report = response.json()
    assert (report["accepted"], report["rejected"], report["lines"]) == (3, 7, 10)
    codes = {(r["line"], r["field"], r["code"]) for r in report["rejections"]}
    assert codes == {
        (4, "merchant.business_registration_number", "invalid_brn"),
        (5, "user.phone", "invalid_phone"),
        (6, "user.shoe_size", "unknown_field"),
        (7, "user.phone", "missing_field"),
        (8, "merchant.qr_merchant_id", "invalid_qr_id"),
        (9, "", "malformed_line"),
        (10, "external_id", "duplicate_in_batch"),
    }
    # The report names rows, never their values.
    assert "123-45-67890" not in response.content.decode()
    assert Record.objects.count() == 3
    stored = stored_values(approved_plan).values()
    raw = stored_block_tokens()
    assert raw and all(r.startswith("gAAAA") and "서울가게" not in r for r in raw), (
        "values must be encrypted at rest")
    phones = {r["merchant.representative_phone"] for r in stored}
    assert phones == {"+821000000001", "+821000000002", "+821000000003"}
    subject = DataSubject.objects.get(external_id="M-0000001")
    assert subject.phone == "+821000000001" and subject.brn_hash


def test_resending_a_batch_id_changes_nothing_and_returns_the_first_report(
        kepf_api, approved_plan):
    upload_id = _start(kepf_api, approved_plan)
    body = ndjson(synthetic.rows("user", 1, 5))
    first = kepf_api.put(f"/api/uploads/{upload_id}/batches/b-1", body)
    again = kepf_api.put(f"/api/uploads/{upload_id}/batches/b-1", body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["replayed"] is True and again.json()["accepted"] == 5
    assert Record.objects.count() == 5 and UploadBatch.objects.count() == 1
    other = kepf_api.put(f"/api/uploads/{upload_id}/batches/b-1",
                         ndjson(synthetic.rows("user", 6, 1)))
    assert other.status_code == 409 and other.json()["error"] == "batch_id_reused"


def test_a_subject_sent_again_in_another_batch_is_reported_as_a_duplicate(
        kepf_api, approved_plan):
    upload_id = _start(kepf_api, approved_plan)
    kepf_api.put(f"/api/uploads/{upload_id}/batches/one", ndjson(synthetic.rows("user", 1, 3)))
    response = kepf_api.put(f"/api/uploads/{upload_id}/batches/two",
                            ndjson(synthetic.rows("user", 3, 2)))
    report = response.json()
    assert report["accepted"] == 1
    assert report["rejections"] == [{"line": 1, "field": "external_id",
                                     "code": "duplicate_across_batches",
                                     "message": "this user was accepted in an earlier batch"}]
    assert Record.objects.count() == 4


def test_csv_batches_are_validated_like_ndjson(kepf_api, approved_plan):
    upload_id = _start(kepf_api, approved_plan)
    csv_body = (b"kind,external_id,user.phone,user.certificate_balance,user.issuance_records\n"
                b'user,U-1,010-0000-0001,5000,"[{""amount"": 5000}]"\n'
                b"user,U-2,+82 10 0000 0002,-3,\n"
                b"user,U-3,01000000003\n")
    response = kepf_api.put(f"/api/uploads/{upload_id}/batches/csv-1", csv_body,
                            content_type="text/csv")
    assert response.status_code == 201
    report = response.json()
    assert report["accepted"] == 1
    assert {(r["line"], r["code"]) for r in report["rejections"]} == {
        (3, "invalid_amount"), (4, "malformed_line")}
    assert Record.objects.get().certificate_balance == 5000
    assert stored_values(approved_plan)["U-1"]["user.certificate_balance"] == 5000


def test_declared_totals_are_compared_with_what_was_accepted(kepf_api, approved_plan):
    rows = list(synthetic.rows("user", 1, 4))
    declared = {"subjects": {"user": 5},
                "certificate_balance_sum": sum(r["user.certificate_balance"] for r in rows)}
    upload_id = _start(kepf_api, approved_plan, declared)
    kepf_api.put(f"/api/uploads/{upload_id}/batches/b", ndjson(rows))
    done = kepf_api.post(f"/api/uploads/{upload_id}/complete").json()
    assert done["status"] == "complete"
    assert done["accepted_totals"]["certificate_balance_sum"] == declared[
        "certificate_balance_sum"]
    assert done["totals_match"] is False
    assert done["mismatches"] == [{"metric": "subjects.user", "declared": 5, "accepted": 4}]
    late = kepf_api.put(f"/api/uploads/{upload_id}/batches/late", ndjson([synthetic.user_row(9)]))
    assert late.status_code == 409


def test_bad_requests_get_a_clear_4xx_and_store_nothing(kepf_api, approved_plan, settings):
    upload_id = _start(kepf_api, approved_plan)
    url = f"/api/uploads/{upload_id}/batches/b1"
    wrong_type = kepf_api.put(url, b"{}", content_type="application/xml")
    assert wrong_type.status_code == 415 and wrong_type.json()["error"] == "unsupported_media_type"
    settings.TRANSFERS_MAX_BATCH_BYTES = 100
    too_big = kepf_api.put(url, ndjson(synthetic.rows("user", 1, 5)))
    assert too_big.status_code == 413
    bad_id = kepf_api.put(f"/api/uploads/{upload_id}/batches/{'x' * 80}", b"")
    assert bad_id.status_code == 400
    bad_totals = kepf_api.post(f"/api/plans/{approved_plan.pk}/uploads",
                               {"declared_totals": {"subjects": {"user": -1}}})
    assert bad_totals.status_code == 400 and "declared_totals" in bad_totals.json()["detail"]
    assert Record.objects.count() == 0 and UploadBatch.objects.count() == 0


def test_a_token_without_the_upload_scope_is_refused(outgoing_operator, approved_plan):
    from tests.transfers.conftest import make_api

    reader = make_api(outgoing_operator, scope="release:read")
    response = reader.post(f"/api/plans/{approved_plan.pk}/uploads")
    assert response.status_code == 403


def test_every_call_is_an_audit_event_of_the_operator(kepf_api, approved_plan):
    upload_id = _start(kepf_api, approved_plan)
    kepf_api.put(f"/api/uploads/{upload_id}/batches/b", ndjson(synthetic.rows("user", 1, 2)))
    kepf_api.get(f"/api/uploads/{upload_id}")
    calls = AuditEvent.objects.filter(action="api.call", actor_id="operator:KEPF")
    assert [c.details["method"] for c in calls.order_by("id")] == ["POST", "PUT", "GET"]
    assert AuditEvent.objects.filter(action="upload.batch_received",
                                     actor_id="operator:KEPF").count() == 1
    assert all("010-" not in json.dumps(e.details) for e in AuditEvent.objects.all())


def test_an_unrelated_operator_cannot_upload_into_another_operators_plan(
        bizplay_api, kepf_api, approved_plan):
    """Bizplay, party to nothing here, tries to open an upload on KEPF's plan and to send a
    batch into KEPF's open upload: both are 404, and no record or batch is stored."""
    upload_id = _start(kepf_api, approved_plan)

    opened = bizplay_api.post(f"/api/plans/{approved_plan.pk}/uploads",
                              {"declared_totals": {}})
    sent = bizplay_api.put(f"/api/uploads/{upload_id}/batches/b1",
                           ndjson(synthetic.rows("user", 1, 2)))
    read = bizplay_api.get(f"/api/uploads/{upload_id}")

    for response in (opened, sent, read):
        assert (response.status_code, response.json()["error"]) == (404, "not_found")
        assert "U-0000001" not in response.content.decode()
    assert not Record.objects.exists() and not UploadBatch.objects.exists()
