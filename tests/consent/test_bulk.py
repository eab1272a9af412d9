"""consent.bulk: each raw statement holds its stated contract on the backend under test."""

import datetime as dt

from django.utils import timezone

from consent import bulk
from consent.models import Campaign, ConsentRequest, SmsMessage, SmsOptOut
from governance.models import DataSubject
from tests.consent.sms_fixtures import *  # noqa: F403

MessageStatus = SmsMessage.Status


def _requests_for(campaign: Campaign, now) -> int:
    subjects = DataSubject.objects.filter(source_operator_id=campaign.plan.from_operator_id,
                                          kind=campaign.subject_kind)
    return bulk.requests_insert(campaign_id=campaign.pk, subjects=subjects,
                                expires_at=campaign.expires_at, now=now)


def test_requests_insert_adds_one_request_per_subject_once_with_distinct_public_ids(
        merchants, campaign_for):
    merchants(3)
    campaign = campaign_for()
    now = timezone.now()

    assert _requests_for(campaign, now) == 3
    assert _requests_for(campaign, now) == 0  # a retry adds nothing

    rows = ConsentRequest.objects.filter(campaign=campaign)
    assert rows.count() == 3
    assert len(set(rows.values_list("public_id", flat=True))) == 3
    assert set(rows.values_list("status", flat=True)) == {ConsentRequest.Status.CREATED}
    # The stored UUIDs read back as UUIDs (the backend's own form).
    assert ConsentRequest.objects.get(public_id=rows[0].public_id).pk == rows[0].pk


def test_invitations_insert_queues_reachable_subjects_and_skips_the_others_once(
        merchants, campaign_for):
    with_phone = merchants(2)
    merchants(1, start=200, phone=False)
    SmsOptOut.objects.create(phone_index=with_phone[1].phone_index)
    campaign = campaign_for()
    now = timezone.now()
    _requests_for(campaign, now)

    for _ in range(2):  # idempotent
        bulk.invitations_insert(campaign_id=campaign.pk, not_before=now, now=now)

    outcomes = sorted(SmsMessage.objects.filter(request__campaign=campaign)
                      .values_list("status", "error_code"))
    assert outcomes == sorted([(MessageStatus.QUEUED, ""), (MessageStatus.SKIPPED, "opted_out"),
                               (MessageStatus.SKIPPED, "no_mobile")])


def test_reminders_insert_numbers_each_reminder_and_queues_it_once(merchants, campaign_for):
    merchants(1)
    campaign = campaign_for()
    now = timezone.now()
    _requests_for(campaign, now)
    request = ConsentRequest.objects.get(campaign=campaign)

    for _ in range(2):
        bulk.reminders_insert(due=[(request.pk, 0)], now=now)

    reminder = SmsMessage.objects.get(request=request, purpose=SmsMessage.Purpose.REMINDER)
    assert (reminder.sequence, reminder.status) == (1, MessageStatus.QUEUED)


def _invitation(campaign_for, merchants, status) -> SmsMessage:
    merchants(1)
    campaign = campaign_for()
    now = timezone.now()
    _requests_for(campaign, now)
    request = ConsentRequest.objects.get(campaign=campaign)
    return SmsMessage.objects.create(request=request, purpose=SmsMessage.Purpose.INVITATION,
                                     status=status, not_before=now)


def test_the_guarded_updates_change_only_a_row_in_the_state_they_expect(
        merchants, campaign_for):
    message = _invitation(campaign_for, merchants, MessageStatus.QUEUED)
    now = timezone.now()

    bulk.sms_mark_outcome([(message.pk, "x" * 40)], status=MessageStatus.FAILED, now=now)
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED  # not sending: untouched

    bulk.sms_mark_claimed([(message.pk, None, "[링크]")], worker="w" * 80, provider="console",
                          notice_id=None, notice_hash="", now=now)
    bulk.sms_mark_claimed([(message.pk, None, "again")], worker="w2", provider="console",
                          notice_id=None, notice_hash="", now=now)
    message.refresh_from_db()
    assert (message.status, message.attempts, message.body_redacted, message.claimed_by) == (
        MessageStatus.SENDING, 1, "[링크]", "w" * 64)

    bulk.sms_mark_outcome([(message.pk, "x" * 40)], status=MessageStatus.UNKNOWN, now=now)
    message.refresh_from_db()
    assert (message.status, message.error_code) == (MessageStatus.UNKNOWN, "x" * 32)

    assert bulk.sms_mark_found(message_id=message.pk, provider_sid="SM1", now=now) == 1
    assert bulk.sms_mark_found(message_id=message.pk, provider_sid="SM2", now=now) == 0
    bulk.sms_mark_submitted([(message.pk, "SM3")], provider="console",
                            now=now + dt.timedelta(seconds=1))
    message.refresh_from_db()
    assert (message.status, message.provider_sid) == (MessageStatus.SUBMITTED, "SM1")
