"""Unreached users: a notice that failed or was undelivered is retried as the campaign's next
reminder; after the last one the subject is unreached, counted per plan and channel."""

import datetime as dt

import pytest
from django.utils import timezone

from consent.models import ConsentRequest, SmsMessage
from consent.selectors_notice import notice_reach, notice_unreached_subjects
from consent.services.lifecycle import reminders_queue, requests_expire
from consent.services.sending import campaign_send_run, sms_status_update
from governance.crypto import normalize_mobile
from governance.services import Evidence, notice_evidence_record
from tests.consent.notice_fixtures import *  # noqa: F403
from tests.consent.sms_fixtures import *  # noqa: F403

MessageStatus = SmsMessage.Status


def _report(subject, status, error_code="30003"):
    """The provider's status for the newest message to ``subject``."""
    msg = SmsMessage.objects.filter(request__subject=subject).order_by("-id").first()
    sms_status_update(provider_sid=msg.provider_sid, provider_status=status,
                      error_code=error_code if status != "delivered" else "")


def _remind_and_send(campaign, hours: int) -> int:
    """``hours`` later: the tick queues the reminders due, and they are sent."""
    later = timezone.now() + dt.timedelta(hours=hours)
    due = ConsentRequest.objects.filter(campaign=campaign, next_reminder_at__lte=later)
    due.update(next_reminder_at=timezone.now() - dt.timedelta(seconds=1))  # the clock moved
    queued = reminders_queue()
    campaign_send_run(campaign_id=campaign.pk, budget_seconds=None)
    return queued


@pytest.fixture
def sent(users, notice_campaign_for, standin, django_capture_on_commit_callbacks):
    """Two users' notices accepted by the provider; one reminder at most, after 48 hours."""
    subjects = users(2)
    campaign = launched(notice_campaign_for(reminder_count=1, reminder_after_hours=48),  # noqa: F405
                        django_capture_on_commit_callbacks)
    return campaign, subjects


def test_only_the_subject_the_notice_did_not_reach_gets_the_reminder(sent, standin):
    campaign, (reached, missed) = sent
    _report(reached, "delivered")
    _report(missed, "undelivered")

    assert _remind_and_send(campaign, hours=49) == 1

    to = [m["to"] for m in standin.messages]
    assert to.count(normalize_mobile(missed.phone)) == 2
    assert to.count(normalize_mobile(reached.phone)) == 1
    reminder = SmsMessage.objects.get(purpose="reminder")
    assert reminder.request.subject == missed and reminder.notice_hash


def test_a_notice_refused_at_sending_is_retried_too(users, notice_campaign_for, standin,
                                                    django_capture_on_commit_callbacks):
    users(1)
    standin.add_faults({"status": 400})  # refused for good: never "sent"
    campaign = launched(notice_campaign_for(reminder_count=1, reminder_after_hours=2),  # noqa: F405
                        django_capture_on_commit_callbacks)
    request = ConsentRequest.objects.get()
    assert request.status == "failed" and request.next_reminder_at is not None
    assert notice_reach(plan=campaign.plan).pending == 1

    assert _remind_and_send(campaign, hours=3) == 1
    assert len(standin.messages) == 1  # the retry got through


def test_after_the_last_reminder_without_delivery_the_subject_is_unreached(sent):
    campaign, (reached, missed) = sent
    _report(reached, "delivered")
    _report(missed, "undelivered")
    assert notice_reach(plan=campaign.plan).unreached_total == 0  # a reminder is still due

    _remind_and_send(campaign, hours=49)
    assert notice_reach(plan=campaign.plan).pending == 1  # the reminder is on its way
    _report(missed, "failed", "30005")

    reach = notice_reach(plan=campaign.plan)
    assert (reach.reached, reach.pending, reach.unreached) == (
        {"lms": 1}, 0, {"lms": 1, "no_sms": 0})
    (row,) = notice_unreached_subjects(plan=campaign.plan)
    assert (row.external_id, row.public_id, row.kind) == (
        missed.external_id, missed.public_id, "user")
    assert (row.attempts, row.last_error, row.phone) == (2, "30005", "")


def test_a_subject_without_a_mobile_number_is_unreached_at_once(
        users, notice_campaign_for, outbox, django_capture_on_commit_callbacks):
    (nobody,) = users(1, phone=False)
    campaign = launched(notice_campaign_for(reminder_count=2),  # noqa: F405
                        django_capture_on_commit_callbacks)

    reach = notice_reach(plan=campaign.plan)
    assert reach.unreached == {"lms": 0, "no_sms": 1} and reach.pending == 0
    (row,) = notice_unreached_subjects(plan=campaign.plan)
    assert (row.external_id, row.attempts, row.last_error) == (nobody.external_id, 0,
                                                              "no_mobile")


def test_a_subject_the_operator_notified_another_way_is_reached_and_not_reminded(
        sent, outgoing_operator):
    campaign, (_reached, missed) = sent
    _report(missed, "undelivered")
    notice_evidence_record(plan=campaign.plan, by=("operator", "operator:KEPF"), evidence=[
        Evidence(missed, "operator", timezone.now(), "attestation-1")])

    assert reminders_queue(now=timezone.now() + dt.timedelta(hours=49)) == 1  # the other one
    assert not SmsMessage.objects.filter(purpose="reminder", request__subject=missed).exists()
    reach = notice_reach(plan=campaign.plan)
    assert reach.reached == {"operator": 1} and reach.unreached_total == 0


def test_a_request_that_expired_without_delivery_is_unreached(sent):
    campaign, subjects = sent  # accepted, and never a delivery report
    assert notice_reach(plan=campaign.plan).pending == 2

    requests_expire(now=campaign.expires_at + dt.timedelta(seconds=1))

    assert notice_reach(plan=campaign.plan).unreached == {"lms": 2, "no_sms": 0}
    assert {r.external_id for r in notice_unreached_subjects(plan=campaign.plan)} == {
        s.external_id for s in subjects}


def test_the_export_rows_carry_the_phone_only_when_asked(sent):
    campaign, (_reached, missed) = sent
    ConsentRequest.objects.filter(campaign=campaign).update(reminders_sent=1,
                                                            next_reminder_at=None)
    _report(missed, "undelivered")

    (row,) = notice_unreached_subjects(plan=campaign.plan, with_phone=True)
    assert row.phone == missed.phone
    (row,) = notice_unreached_subjects(plan=campaign.plan)
    assert row.phone == ""
