"""Sending: one SMS per request whatever happens, through the real Twilio SDK and the stand-in."""

import datetime as dt
import zoneinfo

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from consent.models import ConsentLink, ConsentRequest, SmsMessage, SmsOptOut
from consent.services.campaigns import campaign_launch
from consent.services.sending import campaign_send_run, quiet_until, sms_claim, sms_settle
from consent.tokens import link_resolve, token_hash
from governance.crypto import normalize_mobile
from tests.consent.sms_fixtures import *  # noqa: F403

MessageStatus = SmsMessage.Status
SEOUL = zoneinfo.ZoneInfo("Asia/Seoul")


def _launch(campaign, capture):
    with capture(execute=True):
        return campaign_launch(campaign=campaign)


def _token(body: str) -> str:
    return body.rsplit("/c/", 1)[1]


def test_each_subject_gets_one_sms_with_a_working_personal_link(
        merchants, campaign_for, standin, django_capture_on_commit_callbacks):
    subjects = merchants(5)
    _launch(campaign_for(), django_capture_on_commit_callbacks)

    held = standin.messages
    assert sorted(m["to"] for m in held) == sorted(normalize_mobile(s.phone) for s in subjects)
    assert all(m["messaging_service_sid"].startswith("MG") for m in held)
    for m in held:
        link = link_resolve(_token(m["body"]))
        assert link is not None and link.request.subject_id in {s.pk for s in subjects}
        assert "[링크]" in SmsMessage.objects.get(provider_sid=m["sid"]).body_redacted
        assert _token(m["body"]) not in SmsMessage.objects.get(provider_sid=m["sid"]).body_redacted
    assert set(SmsMessage.objects.values_list("status", flat=True)) == {MessageStatus.SUBMITTED}
    assert set(ConsentRequest.objects.values_list("status", flat=True)) == {"sent"}
    event = AuditEvent.objects.get(action="sms.batch_sent")
    assert event.details["accepted"] == 5


def test_the_database_never_holds_a_usable_token(merchants, campaign_for, outbox,
                                                 django_capture_on_commit_callbacks):
    merchants(2)
    _launch(campaign_for(), django_capture_on_commit_callbacks)
    for line in outbox.lines():
        token = _token(line["url"])
        assert ConsentLink.objects.filter(token_hash=token_hash(token)).exists()
        assert not SmsMessage.objects.filter(body_redacted__contains=token).exists()


def test_running_again_sends_nothing_twice(merchants, campaign_for, standin,
                                           django_capture_on_commit_callbacks):
    merchants(3)
    campaign = campaign_for()
    _launch(campaign, django_capture_on_commit_callbacks)
    for _ in range(3):
        campaign_send_run(campaign_id=campaign.pk, budget_seconds=None)
    assert len(standin.messages) == 3


def test_two_claimers_never_get_the_same_message(merchants, campaign_for, outbox):
    merchants(6)
    campaign = campaign_for()
    campaign_launch(campaign=campaign)
    first, _ = sms_claim(campaign=campaign, limit=4, worker="a")
    second, _ = sms_claim(campaign=campaign, limit=4, worker="b")
    assert len(first) == 4 and len(second) == 2
    assert not {c.message_id for c in first} & {c.message_id for c in second}
    assert SmsMessage.objects.filter(status=MessageStatus.SENDING, attempts=1).count() == 6


def test_a_429_is_retried_after_a_pause_and_sent_once(merchants, campaign_for, standin,
                                                      django_capture_on_commit_callbacks):
    merchants(2)
    standin.add_faults({"status": 429}, {"status": 429})
    _launch(campaign_for(), django_capture_on_commit_callbacks)
    assert len(standin.messages) == 2
    assert standin.state.rate_limited == 2
    assert set(SmsMessage.objects.values_list("status", flat=True)) == {MessageStatus.SUBMITTED}


def test_a_5xx_is_never_resent_blindly_and_a_lookup_settles_it(
        merchants, campaign_for, standin, settings, django_capture_on_commit_callbacks):
    merchants(2)
    standin.add_faults({"status": 500, "accept": True})  # Twilio queued it, then failed to answer
    campaign = campaign_for()
    _launch(campaign, django_capture_on_commit_callbacks)
    unknown = SmsMessage.objects.get(status=MessageStatus.UNKNOWN)
    assert unknown.provider_sid is None
    campaign_send_run(campaign_id=campaign.pk, budget_seconds=None)
    assert len(standin.messages) == 2  # no blind resend

    settings.SMS_CLAIM_LEASE_SECONDS = 0
    assert sms_settle()["found"] == 1
    unknown.refresh_from_db()
    assert unknown.status == MessageStatus.SUBMITTED
    assert unknown.provider_sid in {m["sid"] for m in standin.messages}
    assert len(standin.messages) == 2


def test_a_timeout_whose_message_never_arrived_is_sent_again_once_with_a_new_link(
        merchants, campaign_for, standin, settings, django_capture_on_commit_callbacks):
    merchants(1)
    standin.add_faults({"delay": 1.5, "accept": False, "status": 503})  # lost on the way
    campaign = campaign_for()
    _launch(campaign, django_capture_on_commit_callbacks)
    msg = SmsMessage.objects.get()
    assert (msg.status, msg.error_code) == (MessageStatus.UNKNOWN, "timeout")
    assert standin.messages == []
    old_link = msg.link_id

    settings.SMS_CLAIM_LEASE_SECONDS = 0
    assert sms_settle()["requeued"] == 1
    campaign_send_run(campaign_id=campaign.pk, budget_seconds=None)

    msg.refresh_from_db()
    assert msg.status == MessageStatus.SUBMITTED and msg.attempts == 2 and msg.link_id != old_link
    assert len(standin.messages) == 1
    assert ConsentLink.objects.get(pk=old_link).revoked_at is not None
    assert AuditEvent.objects.filter(action="sms.settled", target_id=str(msg.pk)).exists()


def test_a_refused_message_fails_with_its_request_and_is_not_retried(
        merchants, campaign_for, standin, django_capture_on_commit_callbacks):
    merchants(2)
    standin.add_faults({"status": 400})  # 21610: the recipient unsubscribed at the carrier
    campaign = campaign_for()
    _launch(campaign, django_capture_on_commit_callbacks)
    campaign_send_run(campaign_id=campaign.pk, budget_seconds=None)

    failed = SmsMessage.objects.get(status=MessageStatus.FAILED)
    assert failed.error_code == "21610"
    assert failed.request.status == ConsentRequest.Status.FAILED
    assert len(standin.messages) == 1
    assert AuditEvent.objects.filter(action="sms.failed", target_id=str(failed.pk)).exists()


def test_opted_out_numbers_are_skipped_at_send_time(merchants, campaign_for, standin):
    subjects = merchants(2)
    campaign = campaign_for()
    campaign_launch(campaign=campaign)
    SmsOptOut.objects.create(phone_index=subjects[0].phone_index)
    campaign_send_run(campaign_id=campaign.pk, budget_seconds=None)
    assert len(standin.messages) == 1
    assert SmsMessage.objects.get(request__subject=subjects[0]).error_code == "opted_out"


def test_quiet_hours_hold_messages_until_morning_in_seoul(merchants, campaign_for, standin):
    merchants(2)
    hour = timezone.now().astimezone(SEOUL).hour
    campaign = campaign_for(quiet_from_hour=hour, quiet_until_hour=(hour + 1) % 24)
    campaign_launch(campaign=campaign)

    result = campaign_send_run(campaign_id=campaign.pk, budget_seconds=None)

    assert standin.messages == []
    # waiting, not dropped
    assert SmsMessage.objects.filter(status=MessageStatus.QUEUED).count() == 2
    assert result.wait_until.astimezone(SEOUL).hour == (hour + 1) % 24


@pytest.mark.parametrize("local, expected", [
    ("2026-11-25 20:59", None),
    ("2026-11-25 21:00", "2026-11-26 08:00"),
    ("2026-11-26 03:10", "2026-11-26 08:00"),
    ("2026-11-26 08:00", None),
])
def test_quiet_hours_run_from_nine_at_night_to_eight_in_the_morning(local, expected):
    from consent.models import Campaign

    campaign = Campaign(quiet_from_hour=21, quiet_until_hour=8)
    now = dt.datetime.fromisoformat(local).replace(tzinfo=SEOUL)
    until = quiet_until(campaign, now)
    assert (until.strftime("%Y-%m-%d %H:%M") if until else None) == expected


def test_the_send_rate_cap_paces_a_batch(merchants, campaign_for, standin):
    import time

    merchants(12)
    campaign = campaign_for(send_rate_per_second=10)
    campaign_launch(campaign=campaign)
    started = time.monotonic()
    campaign_send_run(campaign_id=campaign.pk, budget_seconds=None)
    assert len(standin.messages) == 12
    assert time.monotonic() - started >= 1.0  # 12 at 10/s cannot go in under a second


def test_a_paused_campaign_sends_nothing(merchants, campaign_for, standin):
    from consent.services.campaigns import campaign_pause

    merchants(2)
    campaign = campaign_for()
    campaign_launch(campaign=campaign)
    campaign_pause(campaign=campaign)
    campaign_send_run(campaign_id=campaign.pk, budget_seconds=None)
    assert standin.messages == []


def test_only_one_sending_loop_runs_per_campaign(merchants, campaign_for, standin):
    from consent.models import Campaign

    merchants(2)
    campaign = campaign_for()
    campaign_launch(campaign=campaign)
    Campaign.objects.filter(pk=campaign.pk).update(
        sender_lease_owner="another-worker",
        sender_lease_until=timezone.now() + dt.timedelta(seconds=30))
    assert campaign_send_run(campaign_id=campaign.pk).busy
    assert standin.messages == []


def test_an_officer_resends_failed_messages_once(merchants, campaign_for, standin, officer,
                                                 django_capture_on_commit_callbacks):
    from consent.services.sending import sms_resend_failed

    merchants(2)
    campaign = campaign_for()
    _launch(campaign, django_capture_on_commit_callbacks)
    SmsMessage.objects.filter(pk=SmsMessage.objects.first().pk).update(status=MessageStatus.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        assert sms_resend_failed(campaign=campaign, by=officer) == 1
    assert sms_resend_failed(campaign=campaign, by=officer) == 0  # the resend went
    assert len(standin.messages) == 3
    assert SmsMessage.objects.filter(purpose="resend", status=MessageStatus.SUBMITTED).count() == 1


def test_the_stand_in_answers_the_real_sdk_like_twilio(standin, settings):
    from twilio.base.exceptions import TwilioRestException
    from twilio.rest import Client

    client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
    client.api.base_url = standin.url
    created = client.messages.create(to="+821012345678", body="안내",
                                     messaging_service_sid="MG" + "9" * 32,
                                     status_callback="https://x.example/cb")
    fetched = client.messages(created.sid).fetch()
    assert (fetched.sid, fetched.to, fetched.body, fetched.status) == (
        created.sid, "+821012345678", "안내", "accepted")
    assert [m.sid for m in client.messages.list(to="+821012345678")] == [created.sid]
    with pytest.raises(TwilioRestException) as unknown:
        client.messages("SM" + "0" * 32).fetch()
    assert unknown.value.status == 404
    with pytest.raises(TwilioRestException) as bad_number:
        client.messages.create(to="010-1234", body="x", messaging_service_sid="MG1")
    assert (bad_number.value.status, bad_number.value.code) == (400, 21211)
    intruder = Client(settings.TWILIO_ACCOUNT_SID, "wrong-token")
    intruder.api.base_url = standin.url
    with pytest.raises(TwilioRestException) as refused:
        intruder.messages.create(to="+821012345678", body="x", messaging_service_sid="MG1")
    assert refused.value.status == 401
    assert len(standin.messages) == 1
