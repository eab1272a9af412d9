"""An officer's record that the Art. 27 notice was given by phone: notice evidence with the
officer, the time of the call and a mandatory reason."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from governance.models import NoticeEvidence, SubjectNotice
from tests.consent.conftest import make_request
from tests.consent.notice_fixtures import *  # noqa: F403
from tests.staff import login_verified


@pytest.fixture
def missed_request(users, notice_campaign_for, approved_plan):
    """A user whose notice LMS never arrived (no evidence yet), under a plan approved
    yesterday."""
    from governance.models import TransferPlan

    TransferPlan.objects.filter(pk=approved_plan.pk).update(
        approved_at=timezone.now() - dt.timedelta(days=1))
    (user,) = users(1)
    campaign = notice_campaign_for()
    campaign.status = "running"
    campaign.save(update_fields=["status"])
    return make_request(campaign, user, status="failed")


def _url(request):
    return reverse("admin:consent_consentrequest_phone_notice", args=[request.pk])


def _called(minutes_ago: int) -> str:
    return (timezone.localtime() - dt.timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M")


def test_the_request_page_links_to_the_phone_notice_form(client, officer, missed_request):
    login_verified(client, officer)
    page = client.get(reverse("admin:consent_consentrequest_change", args=[missed_request.pk]))
    html = page.content.decode()
    assert _url(missed_request) in html and "전화로 고지함 기록" in html
    assert "도달 증거 없음" in html


def test_an_officer_records_a_call_as_notice_evidence(client, officer, missed_request):
    login_verified(client, officer)
    called = _called(10)

    response = client.post(_url(missed_request), {
        "called_at": called, "reason": "문자 미도달, 콜센터에서 고지 내용 안내 (통화 2026-0042)"})

    assert response.status_code == 302
    piece = NoticeEvidence.objects.get()
    assert (piece.subject_id, piece.channel, piece.recorded_by) == (
        missed_request.subject_id, "phone", f"user:{officer.pk}")
    assert piece.reason == "문자 미도달, 콜센터에서 고지 내용 안내 (통화 2026-0042)"
    assert timezone.localtime(piece.notified_at).strftime("%Y-%m-%dT%H:%M") == called
    assert SubjectNotice.objects.get(subject=missed_request.subject).channel == "phone"
    event = AuditEvent.objects.get(action="notice.evidence_recorded")
    assert event.actor_id == f"user:{officer.pk}" and event.details["channel"] == "phone"
    page = client.get(response["Location"]).content.decode()
    assert "전화 고지를 기록했습니다" in page and "전화 고지" in page


def test_the_same_call_recorded_twice_is_one_piece_of_evidence(client, officer,
                                                               missed_request):
    login_verified(client, officer)
    data = {"called_at": _called(5), "reason": "통화 고지"}
    client.post(_url(missed_request), data)
    client.post(_url(missed_request), data)
    assert NoticeEvidence.objects.count() == 1


def test_a_reason_is_required(client, officer, missed_request):
    login_verified(client, officer)

    response = client.post(_url(missed_request), {"called_at": _called(5), "reason": " "})

    assert response.status_code == 200 and "사유를 입력해 주세요" in response.content.decode()
    assert not NoticeEvidence.objects.exists()


def test_a_call_in_the_future_is_refused(client, officer, missed_request):
    login_verified(client, officer)

    response = client.post(_url(missed_request), {"called_at": _called(-60),
                                                  "reason": "통화 고지"})

    assert response.status_code == 200 and "future" in response.content.decode()
    assert not NoticeEvidence.objects.exists()


def test_the_commission_reviewer_cannot_record_one(client, commission_reviewer,
                                                   missed_request):
    login_verified(client, commission_reviewer)

    response = client.post(_url(missed_request), {"called_at": _called(5),
                                                  "reason": "통화 고지"})

    assert response.status_code == 403
    assert not NoticeEvidence.objects.exists()
