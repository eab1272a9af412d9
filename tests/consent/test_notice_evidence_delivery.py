"""A delivered notice LMS is evidence that the Art. 27 notice reached its subject: recorded
when the provider reports the delivery (the console provider at once), and only for a
message that carried the notice."""

import datetime as dt
import logging
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone
from twilio.request_validator import RequestValidator

from audit.models import AuditEvent
from consent.models import ConsentRequest, SmsMessage
from consent.services.sending import sms_status_update
from governance.models import NoticeEvidence, SubjectNotice, TransferPlan
from tests.consent.notice_fixtures import *  # noqa: F403
from tests.consent.sms_fixtures import *  # noqa: F403

MessageStatus = SmsMessage.Status
PUBLIC = "https://consent.example.kr"


@pytest.fixture
def delivery_callback(client, settings):
    """Post the provider's signed status callback for ``message``, as Twilio does."""
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN  # noqa: F405
    settings.PUBLIC_BASE_URL = PUBLIC

    def post(message, status="delivered", **extra):
        path = reverse("consent:sms-status") + f"?m={message.pk}"
        params = {"MessageSid": message.provider_sid, "MessageStatus": status,
                  "AccountSid": "AC1", **extra}
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC + path,  # noqa: F405
                                                                     params)
        return client.post(path, urlencode(params),
                           content_type="application/x-www-form-urlencoded",
                           headers={"X-Twilio-Signature": signature})
    return post


@pytest.fixture
def notice_sent(users, notice_campaign_for, standin, django_capture_on_commit_callbacks):
    """One user's notice LMS, accepted by the provider (no delivery report yet)."""
    users(1)
    launched(notice_campaign_for(), django_capture_on_commit_callbacks)  # noqa: F405
    return SmsMessage.objects.select_related("request__subject").get()


def test_the_reported_delivery_of_a_notice_lms_is_evidence_for_its_subject(
        notice_sent, delivery_callback, approved_plan):
    assert not NoticeEvidence.objects.exists()
    before = timezone.now()

    assert delivery_callback(notice_sent).status_code == 204

    evidence = NoticeEvidence.objects.get()
    subject = notice_sent.request.subject
    assert (evidence.subject, evidence.channel, evidence.reference, evidence.lineage) == (
        subject, "lms", notice_sent.provider_sid, approved_plan.lineage)
    assert before <= evidence.notified_at <= timezone.now()  # when the delivery was reported
    assert evidence.recorded_by == "system:sms"
    assert SubjectNotice.objects.get(subject=subject).notified_at == evidence.notified_at
    event = AuditEvent.objects.get(action="notice.evidence_recorded")
    assert event.actor_id == "system:sms" and event.details["channel"] == "lms"
    assert event.details["subject"] == subject.public_id


def test_an_undelivered_notice_is_not_evidence(notice_sent, delivery_callback):
    assert delivery_callback(notice_sent, "undelivered", ErrorCode="30003").status_code == 204

    notice_sent.refresh_from_db()
    assert (notice_sent.status, notice_sent.error_code) == (MessageStatus.UNDELIVERED, "30003")
    assert not NoticeEvidence.objects.exists() and not SubjectNotice.objects.exists()


def test_a_delivery_reported_twice_is_one_piece_of_evidence(notice_sent):
    for _ in range(2):
        sms_status_update(provider_sid=notice_sent.provider_sid, provider_status="delivered")
    assert NoticeEvidence.objects.count() == 1
    assert AuditEvent.objects.filter(action="notice.evidence_recorded").count() == 1


def test_a_consent_invitation_delivered_is_not_notice_evidence(
        merchants, campaign_for, standin, delivery_callback, django_capture_on_commit_callbacks):
    merchants(1)
    launched(campaign_for(), django_capture_on_commit_callbacks)  # noqa: F405
    invitation = SmsMessage.objects.get()

    assert delivery_callback(invitation).status_code == 204

    invitation.refresh_from_db()
    assert invitation.status == MessageStatus.DELIVERED
    assert not NoticeEvidence.objects.exists()


def test_a_delivery_after_the_plan_left_force_is_skipped_and_the_callback_still_succeeds(
        notice_sent, delivery_callback, approved_plan, caplog):
    TransferPlan.objects.filter(pk=approved_plan.pk).update(
        status=TransferPlan.Status.CANCELLED)

    with caplog.at_level(logging.INFO, logger="consent.services.sending"):
        assert delivery_callback(notice_sent).status_code == 204

    notice_sent.refresh_from_db()
    assert notice_sent.status == MessageStatus.DELIVERED
    assert not NoticeEvidence.objects.exists()
    assert "no evidence recorded" in caplog.text


def test_the_console_provider_counts_as_delivered_at_once_and_so_records_the_evidence(
        users, notice_campaign_for, outbox, django_capture_on_commit_callbacks):
    subjects = users(3)
    launched(notice_campaign_for(), django_capture_on_commit_callbacks)  # noqa: F405

    assert len(outbox.lines()) == 3
    assert set(SmsMessage.objects.values_list("status", flat=True)) == {MessageStatus.DELIVERED}
    assert set(ConsentRequest.objects.values_list("status", flat=True)) == {"delivered"}
    pieces = NoticeEvidence.objects.filter(channel="lms")
    assert sorted(p.subject_id for p in pieces) == sorted(s.pk for s in subjects)
    sids = {line["sid"] for line in outbox.lines()}
    assert {p.reference for p in pieces} == sids


def test_a_late_notice_reminder_delivered_after_a_failure_turns_the_request_delivered(
        notice_sent, delivery_callback):
    delivery_callback(notice_sent, "failed", ErrorCode="30005")
    request = ConsentRequest.objects.get()
    assert request.status == "failed"
    reminder = SmsMessage.objects.create(request=request, purpose="reminder", sequence=1,
                                         status=MessageStatus.SUBMITTED,
                                         provider_sid="SM" + "f" * 32,
                                         notice_hash=notice_sent.notice_hash,
                                         notice=notice_sent.notice,
                                         submitted_at=timezone.now() - dt.timedelta(minutes=1))

    assert delivery_callback(reminder).status_code == 204

    request.refresh_from_db()
    assert request.status == "delivered"
    assert NoticeEvidence.objects.get().reference == reminder.provider_sid
