"""Hostile or careless requests to the operator API get a documented JSON 4xx and change
nothing: path arguments, bodies and headers that used to reach a server error."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from audit.models import AuditEvent
from tests.staff import login_verified
from tests.transfers.conftest import ndjson
from transfers import synthetic
from transfers.models import Record, Upload, UploadBatch

pytestmark = pytest.mark.django_db

PERSONAL_LOOKING = ["010-1234-5678", "01012345678", "123-45-67890", "900101-1234567"]


def _start(api, plan) -> str:
    response = api.post(f"/api/plans/{plan.pk}/uploads", {"declared_totals": {}})
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] and body["detail"]
    if code:
        assert body["error"] == code, body
    return body


def _nothing_personal_in_audit(*values: str) -> None:
    stored = json.dumps([[e.actor_id, e.target_id, e.details, e.request_id]
                         for e in AuditEvent.objects.all()], ensure_ascii=False)
    for value in values:
        assert value not in stored


@pytest.mark.parametrize("batch_id", PERSONAL_LOOKING)
def test_a_batch_id_that_looks_personal_is_refused_before_anything_is_recorded(
        kepf_api, approved_plan, batch_id):
    upload_id = _start(kepf_api, approved_plan)
    body = ndjson([synthetic.user_row(1)])
    _assert_error(kepf_api.put(f"/api/uploads/{upload_id}/batches/{batch_id}", body), 400,
                  "invalid_batch_id")
    _assert_error(kepf_api.get(f"/api/uploads/{upload_id}/batches/{batch_id}"), 400,
                  "invalid_batch_id")
    assert UploadBatch.objects.count() == 0 and Record.objects.count() == 0
    _nothing_personal_in_audit(batch_id)


def test_a_nul_in_a_batch_id_is_refused(kepf_api, approved_plan):
    upload_id = _start(kepf_api, approved_plan)
    _assert_error(kepf_api.put(f"/api/uploads/{upload_id}/batches/b%001",
                               ndjson([synthetic.user_row(1)])), 400, "invalid_batch_id")
    _assert_error(kepf_api.get(f"/api/uploads/{upload_id}/batches/b%001"), 400,
                  "invalid_batch_id")
    assert UploadBatch.objects.count() == 0


@pytest.mark.parametrize("plan_id", PERSONAL_LOOKING + ["821012345678", "9" * 19, "9" * 40])
def test_a_plan_id_that_is_not_a_database_id_is_a_json_404(kepf_api, approved_plan, plan_id):
    _assert_error(kepf_api.get(f"/api/plans/{plan_id}"), 404, "not_found")
    _assert_error(kepf_api.post(f"/api/plans/{plan_id}/uploads"), 404, "not_found")
    assert Upload.objects.count() == 0
    _nothing_personal_in_audit(plan_id)


def test_a_release_file_of_a_release_id_that_is_not_a_uuid_is_a_json_404(shinhan_api):
    _assert_error(shinhan_api.get(f"/api/releases/{'0' * 36}/manifest.json"), 404)
    _assert_error(shinhan_api.get(f"/api/releases/{'-' * 36}/manifest.sig"), 404)


def test_an_unknown_api_address_is_a_json_404(kepf_api):
    _assert_error(kepf_api.get("/api/nothing/here"), 404, "not_found")
    _assert_error(kepf_api.http.get("/api/plans/"), 404, "not_found")


@pytest.mark.parametrize("length", ["-5", "abc", "1e3", " 12"])
def test_a_batch_with_a_bad_content_length_is_refused_and_its_id_stays_free(
        kepf_api, approved_plan, length):
    upload_id = _start(kepf_api, approved_plan)
    url = f"/api/uploads/{upload_id}/batches/b1"
    body = ndjson([synthetic.user_row(1)])
    _assert_error(kepf_api.http.put(url, body, content_type="application/x-ndjson",
                                    CONTENT_LENGTH=length, **kepf_api._headers()),
                  400, "invalid_content_length")
    assert UploadBatch.objects.count() == 0
    assert kepf_api.put(url, body).status_code == 201


def test_an_empty_batch_is_refused_and_its_id_stays_free(kepf_api, approved_plan):
    upload_id = _start(kepf_api, approved_plan)
    url = f"/api/uploads/{upload_id}/batches/b1"
    _assert_error(kepf_api.put(url, b"\n \n"), 400, "empty_batch")
    assert UploadBatch.objects.count() == 0
    assert kepf_api.put(url, ndjson([synthetic.user_row(1)])).status_code == 201


def test_a_body_nested_thousands_deep_on_upload_create_is_a_400(kepf_api, approved_plan):
    deep = "[" * 5000 + "]" * 5000
    for body in (deep, '{"declared_totals": ' + "[" * 40 + "]" * 40 + "}"):
        response = kepf_api.http.post(f"/api/plans/{approved_plan.pk}/uploads", body,
                                      content_type="application/json", **kepf_api._headers())
        _assert_error(response, 400, "parse_error")
    assert Upload.objects.count() == 0


@pytest.mark.parametrize(("body", "content_type", "status"), [
    ("declared_totals=1", "application/x-www-form-urlencoded", 415),
    ('{"declared_totals": {}}', "", 415),
    ('{"declared_totals": {}}', "text/plain", 415),
    ("[1, 2]", "application/json", 400),
    ('"totals"', "application/json", 400),
    ('{"declared_totals": [1]}', "application/json", 400),
    ('{"declared_totals": {"subjects": {"user": 2}, "balance": 1}}', "application/json", 400),
    ('{"declared_totals": {"subjects": {"shop": 2}}}', "application/json", 400),
    ('{"declared_totals": {"certificate_balance_sum": 18446744073709551616}}',
     "application/json", 400),
    ('{"declared_totals": {"certificate_balance_sum": true}}', "application/json", 400),
    ('{"totals": {}}', "application/json", 400),
])
def test_an_upload_create_body_that_is_not_declared_totals_is_refused(
        kepf_api, approved_plan, body, content_type, status):
    response = kepf_api.http.generic("POST", f"/api/plans/{approved_plan.pk}/uploads",
                                     body.encode(), content_type=content_type,
                                     **kepf_api._headers())
    _assert_error(response, status)
    assert Upload.objects.count() == 0


def test_the_schema_says_declared_totals_take_no_other_keys(kepf_api):
    schema = kepf_api.http.get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    assert components["DeclaredTotals"]["additionalProperties"] is False
    assert components["SubjectCounts"]["additionalProperties"] is False


def test_a_deletion_feed_cursor_beyond_any_id_is_a_documented_400(shinhan_api, approved_plan):
    response = shinhan_api.get(f"/api/plans/{approved_plan.pk}/deletions", after="9" * 30)
    _assert_error(response, 400, "invalid_after")
    schema = shinhan_api.http.get("/api/schema/?format=json").json()
    assert "400" in schema["paths"]["/api/plans/{plan_id}/deletions"]["get"]["responses"]


def test_batch_balances_beyond_a_64_bit_sum_are_still_totalled_exactly(
        kepf_api, approved_plan, officer, client):
    upload_id = _start(kepf_api, approved_plan)
    for n in range(3):
        response = kepf_api.put(f"/api/uploads/{upload_id}/batches/b{n}",
                                ndjson([synthetic.user_row(n + 1)]))
        assert response.status_code == 201
    # Three batches at 2**62 won each: more than SQLite's SUM() holds (it raises at 2**63).
    UploadBatch.objects.update(balance_sum=2**62)
    response = kepf_api.get(f"/api/uploads/{upload_id}")
    assert response.status_code == 200, response.content
    assert response.json()["accepted_totals"]["certificate_balance_sum"] == 3 * 2**62
    login_verified(client, officer)
    assert client.get("/admin/dashboard/").status_code == 200
    assert client.get(f"/admin/transfers/release/reconciliation/{approved_plan.pk}/"
                      ).status_code in (200, 302)


def test_a_row_with_a_balance_beyond_its_bound_is_a_rejected_row(kepf_api, approved_plan):
    upload_id = _start(kepf_api, approved_plan)
    row = synthetic.user_row(1) | {"user.certificate_balance": 9223372036854775807}
    response = kepf_api.put(f"/api/uploads/{upload_id}/batches/b1", ndjson([row]))
    assert response.status_code == 201, response.content
    (rejection,) = response.json()["rejections"]
    assert (rejection["field"], rejection["code"]) == ("user.certificate_balance",
                                                       "invalid_amount")
    assert kepf_api.get(f"/api/uploads/{upload_id}").status_code == 200
    assert Record.objects.count() == 0


def test_a_nul_in_an_unknown_field_name_is_reported_not_a_server_error(kepf_api, approved_plan):
    upload_id = _start(kepf_api, approved_plan)
    row = synthetic.user_row(1) | {"user.note\u0000": 1}
    response = kepf_api.put(f"/api/uploads/{upload_id}/batches/b1", ndjson([row]))
    assert response.status_code == 201, response.content
    (rejection,) = response.json()["rejections"]
    assert rejection["code"] == "unknown_field" and "\x00" not in rejection["field"]
    assert connection.vendor in ("sqlite", "postgresql")
