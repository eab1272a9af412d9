"""The monthly review of the access log: a planted burst by one account stands out, access
outside working hours and exports with their reasons are listed, and the sign-off is itself
recorded."""

from __future__ import annotations

import csv
import datetime as dt
import io
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import transaction

from audit.models import AuditEvent
from officers.access import access_record
from officers.models import AccessReview
from officers.review import (
    SEOUL,
    ReviewError,
    access_review,
    access_review_sign,
    review_status,
)
from tests.staff import login_verified

pytestmark = pytest.mark.django_db
NOVEMBER = dt.date(2026, 11, 1)


def _at(day: int, hour: int, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, 0, tzinfo=SEOUL)


def _looked(user, when: dt.datetime, subjects, action="view", reason=""):
    with mock.patch("audit.services.timezone.now", return_value=when), transaction.atomic():
        access_record(by=user, address="10.1.2.3", action=action, subjects=subjects,
                      fields=["subject.external_id"], reason=reason,
                      target_type="governance.datasubject", target_id="changelist")


@pytest.fixture
def planted_month(officer, second_officer):
    """Kim looks at 5 subjects a day on five weekdays, then 60 on 10 November; Lee at 5 a
    day, once at 22:00, and exports 3 subjects with a reason."""
    for day in (2, 3, 4, 5, 6):
        _looked(officer, _at(day, 10), [f"k{day}-{i}" for i in range(5)])
        _looked(second_officer, _at(day, 11), [f"l{day}-{i}" for i in range(5)])
    _looked(officer, _at(10, 14), [f"burst-{i}" for i in range(60)])
    _looked(second_officer, _at(12, 22), ["night-1"])
    _looked(second_officer, _at(13, 15), ["x1", "x2", "x3"], action="download",
            reason="운영사 대체 고지 발송 (공문 118)")


def _row(review, user):
    return next(r for r in review.rows if r.actor_id == f"user:{user.pk}")


def test_the_review_lists_a_planted_burst_by_one_account(planted_month, officer,
                                                         second_officer):
    review = access_review(NOVEMBER)

    kim, lee = _row(review, officer), _row(review, second_officer)
    assert kim.unusual_days == [dt.date(2026, 11, 10)]
    assert kim.busiest_day_subjects == 60 and kim.usual_day_subjects == 5
    assert len(kim.subjects) == 85 and kim.outside_hours == 0
    assert not lee.unusual and lee.outside_hours == 1
    assert [(e.subjects, e.reason) for e in lee.exports] == [
        (3, "운영사 대체 고지 발송 (공문 118)")]


def test_the_command_writes_the_month_as_csv(planted_month, officer, second_officer, capsys):
    call_command("access_review", "--month", "2026-11")

    rows = {r["account"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    kim, lee = rows[f"user:{officer.pk}"], rows[f"user:{second_officer.pk}"]
    assert kim["username"] == "officer-kim" and kim["unusual_days"] == "2026-11-10"
    assert kim["subjects"] == "85" and lee["outside_working_hours"] == "1"
    assert "운영사 대체 고지 발송 (공문 118)" in lee["export_reasons"]


def test_the_sign_off_is_recorded_once_and_only_for_a_finished_month(planted_month, officer):
    december = dt.datetime(2026, 12, 3, 10, tzinfo=SEOUL)
    with pytest.raises(ReviewError):
        access_review_sign(month=dt.date(2026, 12, 1), by=officer, now=december)

    signed = access_review_sign(month=NOVEMBER, by=officer, note="급증 1건 확인: 소명 받음",
                                now=december)

    event = AuditEvent.objects.get(action="access.review_signed")
    assert event.actor_id == f"user:{officer.pk}"
    assert (event.target_type, event.target_id) == ("officers.accessreview", str(signed.pk))
    assert signed.month == NOVEMBER
    assert event.details["flagged"] == 2 and event.details["summary_sha256"] == \
        signed.summary_sha256
    with pytest.raises(ReviewError):
        access_review_sign(month=NOVEMBER, by=officer, now=december)
    assert AccessReview.objects.count() == 1


def test_a_review_is_overdue_once_the_following_month_has_passed(planted_month, officer):
    assert not review_status(now=_at(20, 10, month=12)).overdue  # November: due in December
    assert review_status(now=dt.datetime(2027, 1, 2, tzinfo=SEOUL)).overdue
    access_review_sign(month=NOVEMBER, by=officer, now=_at(20, 10, month=12))
    status = review_status(now=dt.datetime(2027, 1, 2, tzinfo=SEOUL))
    assert not status.overdue and status.last.month == NOVEMBER


def test_the_officer_signs_on_the_review_page_and_the_reviewer_only_reads_it(
        planted_month, client, officer, commission_reviewer):
    december = _at(20, 10, month=12)
    with mock.patch("officers.admin.timezone.now", return_value=december), \
            mock.patch("officers.review.timezone.now", return_value=december):
        _sign_on_the_page(client, officer, commission_reviewer)


def _sign_on_the_page(client, officer, commission_reviewer):
    url = "/admin/officers/accessreview/?month=2026-11"
    reviewer = login_verified(client, commission_reviewer)
    page = reviewer.get(url).content.decode()
    assert f'data-account="user:{officer.pk}"' in page and 'id="review-sign"' not in page
    assert reviewer.post(url, {"note": "확인"}).status_code == 302
    assert not AccessReview.objects.exists()

    kim = login_verified(client, officer)
    assert 'id="review-sign"' in kim.get(url).content.decode()
    kim.post(url, {"note": "확인함"})

    assert AccessReview.objects.get().signed_by == officer
    assert "점검 완료" in kim.get(url).content.decode()


def test_the_dashboard_card_says_when_a_review_is_overdue(client, officer):
    login_verified(client, officer)
    card = client.get("/admin/dashboard/").content.decode().split('id="review-access"')[1]
    assert card.split("</div>")[0].count("기한 지남") == 0  # nothing accessed, nothing due

    _looked(officer, dt.datetime(2026, 9, 7, 10, tzinfo=SEOUL), ["s1"])
    card = client.get("/admin/dashboard/").content.decode().split('id="review-access"')[1]

    assert "기한 지남" in card.split("</div>")[0] and "없음" in card.split("</div>")[0]


def test_a_staff_member_without_a_role_neither_reads_nor_signs_the_review(
        planted_month, client, officer, clerk):
    """Choi logs in with both factors but holds neither role: the month's review, which
    names every account and how many subjects it looked at, and its CSV send her back to the
    admin's front page, and her sign-off records nothing."""
    url = "/admin/officers/accessreview/?month=2026-11"
    login_verified(client, clerk)

    page = client.get(url)
    csv_file = client.get(url + "&format=csv")
    sign = client.post(url, {"note": "확인"})

    for response in (page, csv_file, sign):
        assert response.status_code == 403
        assert f"user:{officer.pk}" not in response.content.decode()
    assert not AccessReview.objects.exists()
