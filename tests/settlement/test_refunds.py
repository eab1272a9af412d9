"""Refund instead of moving: the request, the operator's signed confirmation, and the
refunded user who never moves."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from settlement.models import RefundCase
from settlement.services import RefundError, refund_case_request
from tests.settlement.conftest import (
    confirmation,
    object_to,
    refund_for,
    release_now,
    signed,
)
from transfers.models import Record, ReleaseGroup

pytestmark = pytest.mark.django_db


def _url(plan, case=None) -> str:
    base = f"/api/plans/{plan.pk}/refunds"
    return f"{base}/{case.public_id}/confirmation" if case else base


def _balance(plan, subject) -> int:
    return Record.objects.get(plan=plan, subject=subject).certificate_balance


def test_an_objector_asks_for_a_refund_of_the_balance_in_the_accepted_record(
        approved_plan, users):
    case = refund_for(approved_plan, users[2])

    assert case.amount == _balance(approved_plan, users[2]) == 3_000
    assert case.status == "requested" and case.operator == approved_plan.from_operator
    event = AuditEvent.objects.get(action="refund.requested")
    assert event.actor_id == f"subject:{users[2].public_id}"
    assert event.details["amount"] == 3_000 and event.details["channel"] == "web"
    assert users[2].external_id not in json.dumps(event.details)


@pytest.mark.parametrize("arrange, code", [
    ("not_objected", "not_objected"),
    ("already_moved", "already_moved"),
    ("twice", "already_requested"),
    ("merchant", "not_a_user"),
])
def test_a_refund_the_rules_refuse_is_refused_and_nothing_is_stored(
        approved_plan, users, arrange, code):
    from governance.models import DataSubject

    subject = users[0]
    if arrange == "already_moved":
        release_now(approved_plan)
        object_to(approved_plan, subject)
    elif arrange == "twice":
        refund_for(approved_plan, subject)
    elif arrange == "merchant":
        subject = DataSubject.objects.filter(kind="merchant").first()
    elif arrange != "not_objected":
        raise AssertionError(arrange)
    before = RefundCase.objects.count()

    with pytest.raises(RefundError) as refused:
        refund_case_request(plan=approved_plan, subject=subject, channel="web",
                            by=("subject", f"subject:{subject.public_id}"))

    assert refused.value.code == code
    assert RefundCase.objects.count() == before


def test_a_refund_by_phone_needs_an_officer_and_a_reason(approved_plan, users, officer):
    object_to(approved_plan, users[0])
    with pytest.raises(RefundError) as refused:
        refund_case_request(plan=approved_plan, subject=users[0], channel="phone",
                            by=("officer", f"user:{officer.pk}"), officer=officer, reason=" ")
    assert refused.value.code == "officer_required"

    case = refund_case_request(plan=approved_plan, subject=users[0], channel="phone",
                               by=("officer", f"user:{officer.pk}"), officer=officer,
                               reason="본인 전화, 생년월일 확인")

    assert case.officer == officer and case.channel == "phone"
    event = AuditEvent.objects.get(action="refund.requested")
    assert event.actor_id == f"user:{officer.pk}" and event.details["officer_recorded"]
    assert "생년월일" not in json.dumps(event.details, ensure_ascii=False)


def test_the_outgoing_operator_pages_through_its_refund_cases(kepf_api, approved_plan, users):
    cases = [refund_for(approved_plan, u) for u in users[:3]]

    first = kepf_api.get(_url(approved_plan), limit=2)
    second = kepf_api.get(_url(approved_plan), limit=2, after=first.json()["next_after"])

    assert first.status_code == 200, first.content
    assert [r["id"] for r in first.json()["refunds"]] == [str(c.public_id) for c in cases[:2]]
    assert first.json()["refunds"][0] == {
        "id": str(cases[0].public_id), "subject": users[0].public_id,
        "external_id": users[0].external_id, "amount": 1_000, "status": "requested",
        "channel": "web", "requested_at": first.json()["refunds"][0]["requested_at"],
        "refunded_at": None, "reference": ""}
    assert [r["id"] for r in second.json()["refunds"]] == [str(cases[2].public_id)]
    assert second.json()["next_after"] is None


def test_the_recipient_and_an_unrelated_operator_see_no_refunds(
        shinhan_api, bizplay_api, approved_plan, users):
    refund_for(approved_plan, users[0])

    for api in (shinhan_api, bizplay_api):
        response = api.get(_url(approved_plan))
        assert (response.status_code, response.json()["error"]) == (404, "not_found")


def test_a_token_without_the_upload_scope_is_refused(outgoing_operator, approved_plan, users):
    from tests.transfers.conftest import make_api

    api = make_api(outgoing_operator, scope="release:read")

    assert api.get(_url(approved_plan)).status_code == 403


def test_a_signed_confirmation_marks_the_case_refunded(
        kepf_api, outgoing_operator, approved_plan, users):
    case = refund_for(approved_plan, users[1])
    refunded_at = timezone.now()
    body = signed(outgoing_operator.signing_private_key,
                  confirmation(approved_plan, case, refunded_at=refunded_at.isoformat(),
                               reference="KEPF/RF/2026-0042"))

    response = kepf_api.post(_url(approved_plan, case), body)

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "refunded"
    assert response.json()["reference"] == "KEPF/RF/2026-0042"
    case.refresh_from_db()
    assert case.status == "refunded" and case.refunded_at == refunded_at
    assert bytes(case.confirmation_payload) and case.confirmation_key.key_id
    event = AuditEvent.objects.get(action="refund.confirmed")
    assert event.actor_id == "operator:KEPF" and event.details["amount"] == 2_000
    listed = kepf_api.get(_url(approved_plan), status="refunded").json()["refunds"]
    assert [r["id"] for r in listed] == [str(case.public_id)]


@pytest.mark.parametrize("tamper, status, code", [
    ("amount", 400, "wrong_amount"),
    ("other_case", 400, "wrong_case"),
    ("other_plan", 400, "wrong_plan"),
    ("other_key", 400, "bad_signature"),
    ("before_request", 400, "invalid_refunded_at"),
    ("future", 400, "invalid_refunded_at"),
    ("stale", 400, "stale_confirmation"),
    ("unknown_key", 400, "invalid_confirmation"),
    ("phone_reference", 400, "invalid_confirmation"),
])
def test_a_wrong_or_tampered_confirmation_is_refused_and_nothing_is_stored(
        kepf_api, outgoing_operator, incoming_operator, approved_plan, users, tamper, status,
        code):
    case = refund_for(approved_plan, users[1])
    other = refund_for(approved_plan, users[2])
    key = outgoing_operator.signing_private_key
    override = {
        "amount": {"amount": case.amount + 1},
        "other_case": {"case": str(other.public_id)},
        "other_plan": {"plan": approved_plan.pk + 1},
        "before_request": {"refunded_at": (case.requested_at - dt.timedelta(hours=1))
                           .isoformat()},
        "future": {"refunded_at": (timezone.now() + dt.timedelta(hours=1)).isoformat()},
        "stale": {"signed_at": (timezone.now() - dt.timedelta(minutes=16)).isoformat()},
        "unknown_key": {"note": "x"},
        "phone_reference": {"reference": "010-1234-5678"},
    }.get(tamper, {})
    if tamper == "other_key":
        key = incoming_operator.signing_private_key
    body = signed(key, confirmation(approved_plan, case, **override))

    response = kepf_api.post(_url(approved_plan, case), body)

    assert (response.status_code, response.json()["error"]) == (status, code), response.content
    assert not RefundCase.objects.filter(status="refunded").exists()
    assert not AuditEvent.objects.filter(action="refund.confirmed").exists()


def test_a_replayed_confirmation_is_refused(kepf_api, outgoing_operator, approved_plan, users):
    case = refund_for(approved_plan, users[1])
    body = signed(outgoing_operator.signing_private_key, confirmation(approved_plan, case))
    assert kepf_api.post(_url(approved_plan, case), body).status_code == 200

    again = kepf_api.post(_url(approved_plan, case), body)
    fresh = kepf_api.post(_url(approved_plan, case), signed(
        outgoing_operator.signing_private_key, confirmation(approved_plan, case)))

    assert (again.status_code, again.json()["error"]) == (409, "replayed")
    assert (fresh.status_code, fresh.json()["error"]) == (409, "already_refunded")
    assert AuditEvent.objects.filter(action="refund.confirmed").count() == 1


def test_another_operators_case_answers_404_and_stays_open(
        bizplay_api, shinhan_api, unrelated_operator, incoming_operator, approved_plan, users):
    case = refund_for(approved_plan, users[1])
    for api, party in ((bizplay_api, unrelated_operator), (shinhan_api, incoming_operator)):
        body = signed(party.signing_private_key, confirmation(approved_plan, case))

        response = api.post(_url(approved_plan, case), body)

        assert (response.status_code, response.json()["error"]) == (404, "not_found")
    case.refresh_from_db()
    assert case.status == "requested"


def test_a_user_with_a_refund_case_never_moves(approved_plan, users):
    refund_for(approved_plan, users[0])
    refunded = refund_for(approved_plan, users[1])
    refunded.status = "refunded"
    refunded.save(update_fields=["status"])

    release = release_now(approved_plan)

    carried = {sid for packed in ReleaseGroup.objects.filter(release=release)
               .values_list("subject_ids", flat=True) for sid in ReleaseGroup.unpack_ids(packed)}
    assert users[0].pk not in carried and users[1].pk not in carried
    assert {u.pk for u in users[2:]} <= carried
    manifest = json.loads(bytes(release.manifest))
    assert manifest["control_totals"]["certificate_balance_sum"] == 3_000 + 4_000 + 5_000 + 6_000


def test_the_plan_summary_counts_a_refunded_user_apart_not_as_movable(
        approved_plan, users, client, officer):
    """An objector's city fields (issuance records) may move by policy; a refund case takes
    the user out of the move altogether, and the officer's summary says so."""
    from django.urls import reverse

    from governance.selectors import plan_decision_summary
    from tests.staff import login_verified

    object_to(approved_plan, users[3])
    refund_for(approved_plan, users[0])
    refund_for(approved_plan, users[1])

    summary = {s.field_key: s for s in plan_decision_summary(approved_plan,
                                                             now=timezone.now())}

    records = summary["user.issuance_records"]
    assert records.allowed == 4 and records.waiting == 0  # users[3], an objector, moves them
    assert records.withheld == {"환불 (refunded instead of moved)": 2}
    assert summary["user.name"].allowed == 3 and summary["user.name"].waiting == 1
    assert summary["merchant.shop_name"].allowed == 2 and not summary["merchant.shop_name"].withheld
    login_verified(client, officer)
    html = client.get(reverse("admin:governance_transferplan_summary",
                              args=[approved_plan.pk])).content.decode()
    row = html.split('data-field="user.issuance_records"')[1].split("</tr>")[0]
    assert '<td class="allowed">4</td>' in row
    assert '<td class="withheld">환불 (refunded instead of moved): 2</td>' in row
