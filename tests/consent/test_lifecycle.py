"""Reminders and expiry: the periodic tick, idempotent however often it runs."""

import datetime as dt

from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from consent.models import Campaign, ConsentRequest, SmsMessage
from consent.services.campaigns import campaign_launch
from consent.services.lifecycle import consent_tick, reminders_queue, requests_expire
from tests.consent.sms_fixtures import *  # noqa: F403

RequestStatus = ConsentRequest.Status


def _sent_campaign(merchants, campaign_for, capture, n=2, **values):
    merchants(n)
    campaign = campaign_for(**values)
    with capture(execute=True):
        campaign_launch(campaign=campaign)
    return campaign


def test_a_reminder_goes_to_those_who_have_not_answered_after_the_interval(
        merchants, campaign_for, outbox, django_capture_on_commit_callbacks):
    from consent.services.decisions import consent_answer

    campaign = _sent_campaign(merchants, campaign_for, django_capture_on_commit_callbacks,
                              reminder_count=2, reminder_after_hours=48)
    answered, waiting = ConsentRequest.objects.filter(campaign=campaign).order_by("id")
    consent_answer(request=answered, agreed=["merchant.email"], declined=[], channel="web",
                   identity_factor="brn")
    assert reminders_queue(now=timezone.now() + dt.timedelta(hours=47)) == 0

    later = timezone.now() + dt.timedelta(hours=49)
    assert reminders_queue(now=later) == 1
    assert reminders_queue(now=later) == 0  # the same tick again queues nothing

    reminder = SmsMessage.objects.get(purpose="reminder")
    assert (reminder.request_id, reminder.sequence) == (waiting.pk, 1)
    waiting.refresh_from_db()
    assert waiting.reminders_sent == 1
    assert waiting.next_reminder_at > later
    assert AuditEvent.objects.get(action="campaign.reminders_queued").details["reminders"] == 1


def test_no_more_reminders_than_the_campaign_allows(merchants, campaign_for, outbox,
                                                    django_capture_on_commit_callbacks):
    _sent_campaign(merchants, campaign_for, django_capture_on_commit_callbacks, n=1,
                   reminder_count=1, reminder_after_hours=1)
    now = timezone.now()
    assert reminders_queue(now=now + dt.timedelta(hours=2)) == 1
    assert reminders_queue(now=now + dt.timedelta(hours=5)) == 0
    assert SmsMessage.objects.filter(purpose="reminder").count() == 1


def test_the_tick_sends_due_reminders_with_the_reminder_text(
        merchants, campaign_for, outbox, django_capture_on_commit_callbacks):
    from consent.tasks import tick

    campaign = _sent_campaign(merchants, campaign_for, django_capture_on_commit_callbacks,
                              n=1, reminder_after_hours=1)
    ConsentRequest.objects.filter(campaign=campaign).update(
        next_reminder_at=timezone.now() - dt.timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):  # it queues the sending on commit
        tick()
    lines = outbox.lines()
    assert len(lines) == 2
    assert "다시 안내" in lines[1]["body"]
    assert lines[0]["url"] != lines[1]["url"]  # each SMS its own link


def test_unanswered_requests_expire_and_their_queued_sms_are_dropped(
        merchants, campaign_for, outbox):
    merchants(2)
    campaign = campaign_for(expires_at=timezone.now() + dt.timedelta(days=1))
    campaign_launch(campaign=campaign)  # invitations still queued

    assert requests_expire(now=timezone.now() + dt.timedelta(days=2)) == 2

    assert set(ConsentRequest.objects.values_list("status", flat=True)) == {RequestStatus.EXPIRED}
    assert set(SmsMessage.objects.values_list("error_code", flat=True)) == {"expired"}
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert AuditEvent.objects.filter(action="campaign.requests_expired").exists()


def test_answered_requests_do_not_expire(merchants, campaign_for, outbox,
                                         django_capture_on_commit_callbacks):
    from consent.services.decisions import consent_answer

    campaign = _sent_campaign(merchants, campaign_for, django_capture_on_commit_callbacks,
                              n=1)
    request = ConsentRequest.objects.get(campaign=campaign)
    consent_answer(request=request, agreed=["merchant.email"], declined=[], channel="web",
                   identity_factor="brn")
    requests_expire(now=campaign.expires_at + dt.timedelta(seconds=1))
    request.refresh_from_db()
    assert request.status == RequestStatus.ANSWERED


def test_the_embedded_default_runs_the_tick_as_a_command(merchants, campaign_for, outbox,
                                                          capsys):
    call_command("consent_tick")
    assert "consent tick" in capsys.readouterr().out
    assert consent_tick()["expired"] == 0


def test_celery_beat_runs_the_tick_every_minute_in_seoul_time(db):
    from importlib import import_module

    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    # The data migration registered it; run its function again (a flush by a transactional
    # test empties the table): it must be idempotent.
    import_module("consent.migrations.0003_beat_schedule").register(apps, None)
    import_module("consent.migrations.0003_beat_schedule").register(apps, None)
    task = PeriodicTask.objects.get(task="consent.tasks.tick")
    assert task.enabled
    assert task.crontab.minute == "*"
    assert str(task.crontab.timezone) == "Asia/Seoul"
