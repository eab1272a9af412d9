"""Refund cases show a user's balance (and, on a case's page, the reason an officer typed):
opening the list or a case is an access entry, as every admin page of a subject's data
(issue 17; officers.access_admin)."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from audit.services import officer_actor
from tests.settlement.conftest import refund_for
from tests.staff import login_verified

pytestmark = pytest.mark.django_db


def _entries():
    return list(AuditEvent.objects.filter(action__startswith="access.",
                                          target_type="settlement.refundcase").order_by("id"))


def test_the_refund_case_list_is_one_access_entry_for_the_subjects_on_the_page(
        client, officer, approved_plan, users):
    cases = [refund_for(approved_plan, u) for u in users[:2]]
    login_verified(client, officer)

    response = client.get("/admin/settlement/refundcase/")

    assert response.status_code == 200
    [entry] = _entries()
    assert entry.action == "access.view" and entry.target_id == "changelist"
    assert (entry.actor_type, entry.actor_id) == officer_actor(officer)
    assert sorted(entry.details["subjects"]) == sorted(c.subject.public_id for c in cases)
    assert entry.details["fields"] == ["refund.status", "user.certificate_balance"]


def test_a_refund_case_page_is_one_access_entry_naming_the_case_and_its_user(
        client, officer, approved_plan, users):
    case = refund_for(approved_plan, users[0])
    login_verified(client, officer)

    response = client.get(f"/admin/settlement/refundcase/{case.pk}/change/")

    assert response.status_code == 200
    [entry] = _entries()
    assert entry.action == "access.view" and entry.target_id == str(case.public_id)
    assert entry.details["subjects"] == [case.subject.public_id]
    assert {"refund.reason", "user.certificate_balance"} <= set(entry.details["fields"])
    # No personal value in the entry: the balance is not in it, only the field's name.
    assert str(case.amount) not in str(entry.details)


def test_the_commission_reviewer_looking_at_a_case_is_logged_too(
        client, commission_reviewer, approved_plan, users):
    case = refund_for(approved_plan, users[0])
    login_verified(client, commission_reviewer)

    assert client.get(f"/admin/settlement/refundcase/{case.pk}/change/").status_code == 200
    assert [e.target_id for e in _entries()] == [str(case.public_id)]


def test_the_phone_refund_form_says_where_to_record_the_objection_first(
        client, officer, approved_plan, users):
    login_verified(client, officer)
    page = client.get("/admin/settlement/refundcase/phone/").content.decode()
    assert 'id="phone-objection"' in page and "/admin/consent/consentrecord/phone/" in page

    refused = client.post("/admin/settlement/refundcase/phone/", {
        "plan": approved_plan.pk, "external_id": users[0].external_id,
        "reason": "본인 전화, 생년월일 확인"}).content.decode()
    assert "먼저 이전을 거부하셔야" in refused


def test_a_staff_member_without_a_role_sees_no_refund_case_and_nothing_is_logged(
        client, clerk, approved_plan, users):
    """Choi logs in with both factors but holds neither role: the refund cases and each
    case's page are refused without a balance or a user in them, and no access entry is
    written."""
    case = refund_for(approved_plan, users[0])
    login_verified(client, clerk)

    responses = [client.get("/admin/settlement/refundcase/"),
                 client.get(f"/admin/settlement/refundcase/{case.pk}/change/")]

    for response in responses:
        assert response.status_code == 403
        body = response.content.decode()
        assert case.subject.public_id not in body and case.subject.external_id not in body
    assert _entries() == []
