"""The admin's view of unreached users: the "고지 도달 여부" filter on consent requests, and
the audited CSV export for the operator's alternative notice (numbers only when asked)."""

import csv
import io

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from consent.models import ConsentRequest, SmsMessage
from consent.services.sending import sms_status_update
from tests.consent.notice_fixtures import *  # noqa: F403
from tests.consent.sms_fixtures import *  # noqa: F403
from tests.staff import login_verified

EXPORT = "admin:consent_consentrequest_unreached_export"


@pytest.fixture
def reach(users, notice_campaign_for, standin, django_capture_on_commit_callbacks):
    """Three users told by LMS with no reminder: one reached, one whose LMS was undelivered
    (unreached), one still on its way (pending); and one without a mobile number."""
    reached, missed, waiting = users(3)
    (nobody,) = users(1, start=9, phone=False)
    campaign = launched(notice_campaign_for(reminder_count=0),  # noqa: F405
                        django_capture_on_commit_callbacks)
    for subject, status in ((reached, "delivered"), (missed, "undelivered")):
        msg = SmsMessage.objects.get(request__subject=subject)
        sms_status_update(provider_sid=msg.provider_sid, provider_status=status,
                          error_code="30003" if status == "undelivered" else "")
    return campaign, {"reached": reached, "missed": missed, "waiting": waiting,
                      "nobody": nobody}


def _changelist(client, **query):
    return client.get(reverse("admin:consent_consentrequest_changelist"), query)


def _rows(page) -> set[str]:
    html = page.content.decode()
    return {str(r.public_id) for r in ConsentRequest.objects.all() if str(r.public_id) in html}


def test_the_filter_counts_each_choice_and_selects_those_requests(client, officer, reach):
    _campaign, people = reach
    login_verified(client, officer)

    page = _changelist(client)
    html = page.content.decode()
    assert "고지 도달 여부" in html
    assert "도달: 장문 문자 수신 확인 (LMS delivered) (1)" in html
    assert "미도달: 마지막 재안내까지 도달하지 않음 (2)" in html
    assert "미도달: 발송·재안내 진행 중 (1)" in html

    def request_of(name):
        return str(ConsentRequest.objects.get(subject=people[name]).public_id)

    assert _rows(_changelist(client, notice_reach="unreached")) == {
        request_of("missed"), request_of("nobody")}
    assert _rows(_changelist(client, notice_reach="reached_lms")) == {request_of("reached")}
    assert _rows(_changelist(client, notice_reach="pending")) == {request_of("waiting")}


def _export(client, plan, **data):
    return client.post(reverse(EXPORT), {"plan": plan.pk, **data})


def _csv(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")  # opens as Korean text in Excel
    return list(csv.reader(io.StringIO(text[1:])))


def test_the_export_lists_the_unreached_without_numbers_and_is_audited(
        client, officer, reach, approved_plan):
    _campaign, people = reach
    login_verified(client, officer)

    response = _export(client, approved_plan, reason="우편 대체 고지 발송 (공문 2026-118)")

    header, *rows = _csv(response)
    assert header == ["external_id", "public_id", "kind", "attempts", "last_error_code"]
    assert rows == sorted([
        [people["missed"].external_id, people["missed"].public_id, "user", "1", "30003"],
        [people["nobody"].external_id, people["nobody"].public_id, "user", "0", "no_mobile"]])
    assert people["missed"].phone not in response.content.decode()
    event = AuditEvent.objects.get(action="notice.unreached_exported")
    assert event.actor_id == f"user:{officer.pk}"
    assert event.details == {"plan_id": approved_plan.pk, "count": 2, "with_phone": False,
                             "reason_length": len("우편 대체 고지 발송 (공문 2026-118)"),
                             "reason": "우편 대체 고지 발송 (공문 2026-118)"}


def test_an_officer_may_ask_for_the_numbers(client, officer, reach, approved_plan):
    _campaign, people = reach
    login_verified(client, officer)

    header, *rows = _csv(_export(client, approved_plan, reason="등기우편 주소 확인 불가",
                                 with_phone="on"))

    assert header[-1] == "phone"
    assert {r[0]: r[-1] for r in rows} == {people["missed"].external_id: people["missed"].phone,
                                           people["nobody"].external_id: ""}
    assert AuditEvent.objects.get(action="notice.unreached_exported").details["with_phone"]


def test_the_export_needs_a_typed_reason(client, officer, reach, approved_plan):
    login_verified(client, officer)

    response = _export(client, approved_plan, reason="   ")

    assert response.status_code == 200 and "사유를 입력해 주세요" in response.content.decode()
    assert not AuditEvent.objects.filter(action="notice.unreached_exported").exists()


def test_a_reason_that_looks_personal_is_kept_out_of_the_audit_event(
        client, officer, reach, approved_plan):
    login_verified(client, officer)
    reason = "010-1234-5678 고객 요청"

    _export(client, approved_plan, reason=reason)

    details = AuditEvent.objects.get(action="notice.unreached_exported").details
    assert "reason" not in details and details["reason_length"] == len(reason)


def test_the_commission_reviewer_may_export_but_never_the_numbers(
        client, commission_reviewer, reach, approved_plan):
    _campaign, people = reach
    login_verified(client, commission_reviewer)

    form = client.get(reverse(EXPORT)).content.decode()
    assert "변경 권한이 있는 담당자만" in form

    header, *rows = _csv(_export(client, approved_plan, reason="위원회 점검",
                                 with_phone="on"))

    assert "phone" not in header and len(rows) == 2
    assert people["missed"].phone not in str(rows)
    assert not AuditEvent.objects.get(action="notice.unreached_exported").details["with_phone"]


def test_no_one_outside_the_staff_reaches_the_export(client, reach, approved_plan):
    response = _export(client, approved_plan, reason="x")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert not AuditEvent.objects.filter(action="notice.unreached_exported").exists()


def test_a_staff_member_without_a_role_exports_no_one(client, clerk, reach, approved_plan):
    """Choi logs in with both factors but holds neither role: the export is refused (403, as
    the admin's own pages refuse her) with no file, and nothing is recorded as exported."""
    _campaign, people = reach
    login_verified(client, clerk)

    form = client.get(reverse(EXPORT))
    response = _export(client, approved_plan, reason="대체 고지 발송 준비", with_phone="on")

    for refused in (form, response):
        assert refused.status_code == 403
        assert not refused.get("Content-Type", "").startswith("text/csv")
        assert people["missed"].external_id.encode() not in refused.content
    assert not AuditEvent.objects.filter(action="notice.unreached_exported").exists()
    assert not AuditEvent.objects.filter(action__startswith="access.").exists()
