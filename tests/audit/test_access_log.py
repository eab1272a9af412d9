"""The access log of personal data: each page that shows subjects, each search and each
export writes exactly one sealed entry naming who, whom (pseudonymous ids), what and why."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from audit.models import AuditEvent
from governance.seoul import synthetic_phone
from officers.access import AccessRefused, access_record
from tests.staff import login_verified

pytestmark = pytest.mark.django_db
SUBJECTS = "admin:governance_datasubject_changelist"


def _access_entries():
    return list(AuditEvent.objects.filter(action__startswith="access.").order_by("id"))


def test_opening_a_subjects_change_page_writes_one_view_entry(client, officer, merchant):
    login_verified(client, officer)

    page = client.get(reverse("admin:governance_datasubject_change", args=[merchant.pk]))

    assert page.status_code == 200
    [entry] = _access_entries()
    assert (entry.action, entry.actor_id, entry.target_type, entry.target_id) == (
        "access.view", f"user:{officer.pk}", "governance.datasubject", merchant.public_id)
    assert entry.details["subjects"] == [merchant.public_id]
    assert entry.details["ip"] == "127.0.0.1" and entry.details["subject_count"] == 1
    assert "subject.external_id" in entry.details["fields"]


def test_a_search_by_phone_records_whom_it_found_and_never_the_number(client, officer,
                                                                      merchant, user):
    login_verified(client, officer)
    typed = synthetic_phone(1)

    typed_in_box = client.get(reverse(SUBJECTS), {"q": typed})
    posted = client.post(reverse(SUBJECTS), {"phone_lookup": typed})
    page = client.get(posted["Location"])

    digits = "".join(ch for ch in typed if ch.isdigit())
    # Either way the list is at an address that holds no part of the number.
    assert typed_in_box.status_code == posted.status_code == 302
    assert typed_in_box["Location"] == posted["Location"]
    assert digits[-4:] not in posted["Location"].split("pi=")[0]
    assert "pi=" in posted["Location"] and typed not in posted["Location"]
    assert merchant.public_id in page.content.decode()
    assert user.public_id not in page.content.decode()
    [entry] = _access_entries()
    assert entry.action == "access.search" and entry.details["search"] == "phone"
    assert entry.details["subjects"] == [merchant.public_id]
    assert digits[-8:] not in json.dumps(entry.details) + entry.target_id


def test_a_list_page_logs_its_subjects_once_per_page_view(client, officer, merchant, user):
    login_verified(client, officer)

    client.get(reverse(SUBJECTS))
    client.get(reverse(SUBJECTS))

    entries = _access_entries()
    assert [e.action for e in entries] == ["access.view", "access.view"]
    assert all(sorted(e.details["subjects"]) == sorted([merchant.public_id, user.public_id])
               for e in entries)


def _export(client, *subjects, **extra):
    return client.post(reverse(SUBJECTS), {
        "action": "export_csv", ACTION_CHECKBOX_NAME: [s.pk for s in subjects], **extra})


def test_an_export_asks_for_a_reason_then_logs_it_with_the_subjects(client, officer,
                                                                    merchant, user):
    login_verified(client, officer)

    asked = _export(client, merchant, user, index="0")
    assert asked.status_code == 200 and "사유" in asked.content.decode()
    assert _access_entries() == []
    csv = _export(client, merchant, user, reason="콜센터 재안내 대상 확인 (공문 2026-118)")

    assert csv["Content-Type"].startswith("text/csv")
    assert merchant.public_id in csv.content.decode("utf-8-sig")
    [entry] = _access_entries()
    assert entry.action == "access.download" and entry.actor_id == f"user:{officer.pk}"
    assert entry.details["reason"] == "콜센터 재안내 대상 확인 (공문 2026-118)"
    assert sorted(entry.details["subjects"]) == sorted([merchant.public_id, user.public_id])


def test_an_export_without_a_reason_is_refused(client, officer, merchant):
    login_verified(client, officer)

    refused = _export(client, merchant, reason="  ")
    with_a_phone = _export(client, merchant, reason=f"{synthetic_phone(1)} 요청")

    for response in (refused, with_a_phone):
        assert response.status_code == 400
        assert not response["Content-Type"].startswith("text/csv")
        assert 'id="export-error"' in response.content.decode()
    assert _access_entries() == []


def test_the_service_refuses_a_download_without_a_reason(officer, merchant):
    with pytest.raises(AccessRefused):
        access_record(by=officer, address="127.0.0.1", action="download",
                      subjects=[merchant.public_id], target_type="governance.datasubject",
                      target_id="x")
    assert _access_entries() == []


def test_a_big_export_is_split_into_entries_of_one_access(officer):
    entries = access_record(by=officer, address="127.0.0.1", action="download",
                            subjects=[f"s{i}" for i in range(2500)], reason="정기 점검 자료",
                            target_type="governance.datasubject", target_id="bulk")
    assert [(e.details["part"], e.details["parts"], len(e.details["subjects"]))
            for e in entries] == [(1, 3, 1000), (2, 3, 1000), (3, 3, 500)]
    assert all(e.details["subject_count"] == 2500 for e in entries)


def test_the_read_only_reviewer_is_logged_too_and_changes_nothing(client, commission_reviewer,
                                                                  merchant):
    login_verified(client, commission_reviewer)
    url = reverse("admin:governance_datasubject_change", args=[merchant.pk])

    assert client.get(url).status_code == 200
    assert client.post(url, {"external_id": "M-999"}).status_code == 403
    merchant.refresh_from_db()
    assert merchant.external_id == "M-000001"
    [entry] = _access_entries()
    assert entry.actor_id == f"user:{commission_reviewer.pk}" and entry.action == "access.view"


def test_a_reason_holding_a_phone_number_is_kept_out_of_the_sealed_entry(officer, merchant):
    typed = f"{synthetic_phone(1)} 고객 요청"
    [entry] = access_record(by=officer, address="127.0.0.1", action="download", reason=typed,
                            subjects=[merchant.public_id], target_type="governance.datasubject",
                            target_id="x")
    assert "reason" not in entry.details
    assert entry.details["reason_withheld"] and entry.details["reason_length"] == len(typed)


def test_a_request_without_a_peer_address_gives_axes_none_and_the_log_unknown(rf):
    from django.http import HttpRequest

    from officers.access import axes_client_ip, client_address

    bare = HttpRequest()  # as django.test.Client.force_login builds it: no REMOTE_ADDR
    assert axes_client_ip(bare) is None and client_address(bare) == "unknown"
    assert axes_client_ip(rf.get("/", REMOTE_ADDR="203.0.113.5")) == "203.0.113.5"


def test_a_phone_lookup_that_is_not_a_mobile_number_says_so_and_searches_nothing(
        client, officer, merchant):
    login_verified(client, officer)

    answer = client.post(reverse(SUBJECTS), {"phone_lookup": "02-120"}, follow=True)

    assert "휴대전화 번호 형식이 아닙니다" in answer.content.decode()
    assert not [e for e in _access_entries() if e.action == "access.search"]


def test_a_staff_member_without_a_role_is_refused_every_subject_page_and_nothing_is_logged(
        client, clerk, merchant):
    """Choi logs in with both factors but holds neither role: the subjects' list, a
    subject's page, a search and an export are refused, none shows whom they concern, and
    the access log records no access, since none happened."""
    login_verified(client, clerk)

    responses = [
        client.get(reverse(SUBJECTS)),
        client.get(reverse(SUBJECTS), {"q": merchant.external_id}),
        client.get(reverse("admin:governance_datasubject_change", args=[merchant.pk])),
        _export(client, merchant, reason="콜센터 재안내 대상 확인 (공문 2026-118)"),
    ]

    for response in responses:
        assert response.status_code == 403
        assert not response.get("Content-Type", "").startswith("text/csv")
        body = response.content.decode()
        assert merchant.external_id not in body and merchant.public_id not in body
    assert _access_entries() == []
