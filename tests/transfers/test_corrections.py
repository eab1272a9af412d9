"""Issue 18, part 4: the recipient's signed apply report, correction requests to the source,
corrected rows through the normal upload, the next release carrying them; QR ids unique."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets

import pytest

from audit.models import AuditEvent
from governance.models import DataSubject
from tests.staff import login_verified
from tests.transfers.conftest import ndjson, upload_rows
from tests.transfers.reader import read_release_api
from transfers import synthetic
from transfers.models import ApplyReport, Correction, Record, UploadBatch
from transfers.selectors import corrections_open_by_reason, plan_reconciliation
from transfers.services import release_export, release_request

pytestmark = pytest.mark.django_db
SHINHAN = ("operator", "operator:SHINHAN")


@pytest.fixture
def release(approved_plan, uploaded, incoming_operator):
    release = release_request(plan=approved_plan, by=SHINHAN)
    return release_export(release_id=release.pk)


def _report_body(release, records, **overrides) -> dict:
    return {"release": str(release.public_id), "manifest_sha256": release.manifest_sha256,
            "nonce": secrets.token_urlsafe(24), "signed_at": dt.datetime.now(dt.UTC).isoformat(),
            "records": records, **overrides}


def _signed(key, body: dict) -> dict:
    payload = json.dumps(body, sort_keys=True).encode()
    return {"payload": base64.b64encode(payload).decode(),
            "signature": base64.b64encode(key.sign(payload)).decode()}


def _merchants(n: int) -> list[DataSubject]:
    return list(DataSubject.objects.filter(kind="merchant").order_by("external_id")[:n])


def _post(shinhan_api, release, body):
    return shinhan_api.post(f"/api/releases/{release.public_id}/apply-reports", body)


def test_a_signed_apply_report_opens_corrections_the_source_reads(
        shinhan_api, kepf_api, release, incoming_operator, approved_plan):
    first, second = _merchants(2)
    body = _signed(incoming_operator.signing_private_key, _report_body(release, [
        {"subject": first.public_id, "reason": "qr_unknown"},
        {"subject": second.public_id, "reason": "other", "text": "가맹점 주소 없음"}]))
    answer = _post(shinhan_api, release, body)
    assert answer.status_code == 201, answer.content
    assert answer.json()["corrections_opened"] == 2
    assert answer.json()["reasons"] == {"other": 1, "qr_unknown": 1}
    page = kepf_api.get(f"/api/plans/{approved_plan.pk}/corrections").json()
    assert [(c["external_id"], c["reason"], c["status"]) for c in page["corrections"]] == [
        (first.external_id, "qr_unknown", "open"), (second.external_id, "other", "open")]
    assert page["corrections"][1]["text"] == "가맹점 주소 없음"
    # The recipient cannot read them (source's upload scope), nor can another operator.
    assert shinhan_api.get(f"/api/plans/{approved_plan.pk}/corrections").status_code == 404
    open_now = {code: n for code, _label, n in corrections_open_by_reason()}
    assert open_now == {"qr_unknown": 1, "qr_duplicate": 0, "account_invalid": 0,
                        "phone_unreachable": 0, "other": 1}
    event = AuditEvent.objects.get(action="release.apply_report_received")
    assert "가맹점" not in json.dumps(event.details, ensure_ascii=False)


def test_a_tampered_replayed_or_foreign_report_is_refused_and_stores_nothing(
        shinhan_api, release, incoming_operator, outgoing_operator, unrelated_operator):
    key = incoming_operator.signing_private_key
    merchant = _merchants(1)[0]
    good = _signed(key, _report_body(release, [{"subject": merchant.public_id,
                                                "reason": "qr_duplicate"}]))
    tampered = dict(good, payload=base64.b64encode(base64.b64decode(good["payload"]).replace(
        b"qr_duplicate", b"qr_unknown\x20\x20")).decode())
    assert _post(shinhan_api, release, tampered).json()["error"] == "bad_signature"
    # Signed by someone else's key.
    other = _signed(outgoing_operator.signing_private_key, _report_body(
        release, [{"subject": merchant.public_id, "reason": "qr_unknown"}]))
    assert _post(shinhan_api, release, other).json()["error"] == "bad_signature"
    # A record this release did not carry: another operator's (another plan's) subject.
    stranger = DataSubject.objects.create(kind="merchant", source_operator=unrelated_operator
                                          .operator, external_id="M-9")
    refused = _post(shinhan_api, release, _signed(key, _report_body(
        release, [{"subject": stranger.public_id, "reason": "other", "text": "x"}])))
    assert refused.status_code == 400 and refused.json()["error"] == "unknown_record"
    stale = _signed(key, _report_body(release, [{"subject": merchant.public_id,
                                                 "reason": "qr_unknown"}],
                                      signed_at="2020-01-01T00:00:00+00:00"))
    assert _post(shinhan_api, release, stale).json()["error"] == "stale_apply_report"
    unknown_reason = _signed(key, _report_body(release, [{"subject": merchant.public_id,
                                                          "reason": "lost"}]))
    assert _post(shinhan_api, release, unknown_reason).json()["error"] == "invalid_apply_report"
    assert not ApplyReport.objects.exists() and not Correction.objects.exists()
    assert _post(shinhan_api, release, good).status_code == 201
    replayed = _post(shinhan_api, release, good)
    assert replayed.status_code == 409 and replayed.json()["error"] == "replayed"
    assert ApplyReport.objects.count() == 1 and Correction.objects.count() == 1


def test_a_corrected_row_replaces_the_record_and_the_next_release_carries_it(
        shinhan_api, kepf_api, release, incoming_operator, approved_plan):
    merchant = _merchants(1)[0]
    assert _post(shinhan_api, release, _signed(incoming_operator.signing_private_key,
                                               _report_body(release, [
                                                   {"subject": merchant.public_id,
                                                    "reason": "account_invalid"}]))
                 ).status_code == 201
    number = int(merchant.external_id.split("-")[1])
    corrected = synthetic.merchant_row(number) | {
        "merchant.settlement_bank_account": "110-999-000001"}
    stranger = synthetic.merchant_row(900)  # a new merchant in the same batch, no correction
    upload = kepf_api.post(f"/api/plans/{approved_plan.pk}/uploads").json()
    report = kepf_api.put(f"/api/uploads/{upload['id']}/batches/fix-1",
                          ndjson([corrected, stranger])).json()
    assert (report["accepted"], report["rejected"], report["corrected"]) == (2, 0, 1)
    # A row for a subject with no open correction is still a duplicate.
    again = kepf_api.put(f"/api/uploads/{upload['id']}/batches/fix-2",
                         ndjson([synthetic.merchant_row(number)])).json()
    assert [r["code"] for r in again["rejections"]] == ["duplicate_across_batches"]
    assert Record.objects.filter(plan=approved_plan, subject=merchant).count() == 1
    kepf_api.post(f"/api/uploads/{upload['id']}/complete")
    status = kepf_api.get(f"/api/plans/{approved_plan.pk}/corrections", status="all").json()
    assert status["corrections"][0]["status"] == "corrected"

    second = release_export(release_id=release_request(plan=approved_plan, by=SHINHAN).pk)
    _, records = read_release_api(shinhan_api, str(second.public_id),
                                  incoming_operator.hpke_private_key)
    mine = [r for r in records if r["subject"] == merchant.public_id]
    assert len(mine) == 1
    if "merchant.settlement_bank_account" in mine[0]["fields"]:
        assert mine[0]["fields"]["merchant.settlement_bank_account"] == "110-999-000001"
    assert {r["external_id"] for r in records} >= {merchant.external_id}
    assert Correction.objects.get().status == "carried"
    assert Correction.objects.get().carried_by == second
    manifest = json.loads(bytes(second.manifest))
    # Carried again, not for the first time: what moved counts the merchant once.
    assert manifest["counts"]["first_time"]["subjects"].get("merchant", 0) == 1  # the stranger
    assert all(r.ok for r in plan_reconciliation(approved_plan)
               if r.metric.startswith(("subjects.", "records")))
    third = release_export(release_id=release_request(plan=approved_plan, by=SHINHAN).pk)
    assert third.record_count == 0  # carried once, not again


def test_an_upload_refuses_a_qr_id_another_merchant_holds(approved_plan, uploaded, kepf_api):
    taken = synthetic.merchant_row(1)["merchant.qr_merchant_id"]
    upload = kepf_api.post(f"/api/plans/{approved_plan.pk}/uploads").json()
    rows = [synthetic.merchant_row(501) | {"merchant.qr_merchant_id": taken},
            synthetic.merchant_row(502),
            synthetic.merchant_row(503) | {"merchant.qr_merchant_id":
                                           synthetic.merchant_row(502)["merchant.qr_merchant_id"]}]
    report = kepf_api.put(f"/api/uploads/{upload['id']}/batches/q1", ndjson(rows)).json()
    assert [(r["line"], r["field"], r["code"]) for r in report["rejections"]] == [
        (1, "merchant.qr_merchant_id", "qr_id_taken"), (3, "merchant.qr_merchant_id",
                                                         "qr_id_taken")]
    assert taken not in json.dumps(report)
    assert report["accepted"] == 1
    assert not DataSubject.objects.filter(external_id__in=["M-0000501", "M-0000503"]).exists()


def test_a_second_plan_of_the_same_source_may_carry_the_same_merchant(approved_plan, uploaded):
    """The QR holder is the subject: the same merchant's QR id in another batch is its own."""
    assert UploadBatch.objects.count() == 1
    upload, batch = upload_rows(approved_plan, [synthetic.merchant_row(1)], batch_id="b2")
    assert batch.rejections[0]["code"] == "duplicate_across_batches"


def test_the_dashboard_shows_open_corrections_per_reason(
        client, officer, shinhan_api, release, incoming_operator):
    first, second = _merchants(2)
    _post(shinhan_api, release, _signed(incoming_operator.signing_private_key, _report_body(
        release, [{"subject": first.public_id, "reason": "phone_unreachable"},
                  {"subject": second.public_id, "reason": "phone_unreachable"}])))
    login_verified(client, officer)
    html = client.get("/admin/dashboard/").content.decode()
    card = html[html.index('id="review-corrections"'):]
    card = card[:card.index("</div>")]
    assert '<strong class="alert">2</strong>' in card
    assert 'data-reason="phone_unreachable">연락 불가 (phone_unreachable) 2' in card
    assert client.get("/admin/transfers/correction/?status__exact=open").status_code == 200


def test_the_qr_index_is_the_blind_index_of_the_qr_id():
    from governance.crypto import blind_index
    from transfers.services.uploads import qr_indexer

    assert qr_indexer()("SQ0000000001") == blind_index("qr:SQ0000000001")
