"""A Celery worker killed (SIGKILL) in the middle of a campaign, on Redis and PostgreSQL: a fresh
worker finishes it, and every subject has exactly one SMS — counted at the Twilio stand-in,
where the messages arrived, not only in our database."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time

import pytest

from consent.models import ConsentRequest, SmsMessage
from consent.services.campaigns import campaign_launch
from tests.conftest import ROOT, _purge_queues
from tests.consent.sms_fixtures import *  # noqa: F403

pytestmark = [pytest.mark.postgres, pytest.mark.celery_worker]
SUBJECTS = 240
LEASE = 4


def _worker(settings, standin, name: str) -> subprocess.Popen:
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_ENV": "test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": settings.TEST_CELERY_BROKER_URL, "VAR_DIR": str(settings.VAR_DIR),
        "SMS_PROVIDER": "twilio", "TWILIO_ACCOUNT_SID": settings.TWILIO_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": settings.TWILIO_AUTH_TOKEN,
        "TWILIO_MESSAGING_SERVICE_SID": settings.TWILIO_MESSAGING_SERVICE_SID,
        "TWILIO_API_BASE": standin.url, "TWILIO_HTTP_TIMEOUT": "2",
        "SMS_CLAIM_LEASE_SECONDS": str(LEASE), "LOG_LEVEL": "WARNING",
    })
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=WARNING",
         "-Q", "default,sms", "--concurrency=1", "--without-heartbeat", "--without-gossip",
         "--without-mingle", "-n", f"{name}-{os.getpid()}@%h"],
        cwd=ROOT, env=env, start_new_session=True,  # its own group: SIGKILL takes the pool too
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_campaign_leaves_every_subject_exactly_one_sms(
        settings, standin, merchants, campaign_for):
    from config.celery import app
    from consent.tasks import tick

    app.conf.broker_url = settings.TEST_CELERY_BROKER_URL
    # An eager `delay` earlier in this session may have left the app a connection pool on
    # the default broker URL: forget it (kombu keeps pools per URL) so that what we queue
    # goes to the test broker.
    app._pool = None
    app.amqp._producer_pool = None
    app.conf.task_always_eager = False
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.AUDIT_SEAL_INLINE = False
    _purge_queues(app)
    merchants(SUBJECTS)
    campaign = campaign_for(send_rate_per_second=40)  # ~6 s of sending: time to kill it
    first = _worker(settings, standin, "doomed")
    fresh = None
    try:
        # A loaded machine may take a while to start a worker: wait for it to answer.
        _wait(lambda: bool(app.control.ping(timeout=0.5)), 120, "the first worker")
        campaign_launch(campaign=campaign)  # commits: queues the sending loop on Redis
        _wait(lambda: len(standin.messages) >= 60, 120, "the first sends")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        killed_at = len(standin.messages)
        assert killed_at < SUBJECTS, "the campaign finished before the worker was killed"
        assert SmsMessage.objects.filter(status=SmsMessage.Status.QUEUED).exists()
        # The worker dies inside a batch: rows it claimed stay "sending", some of them
        # already at the stand-in, the rest never sent.
        in_flight = SmsMessage.objects.filter(status=SmsMessage.Status.SENDING).count()

        fresh = _worker(settings, standin, "fresh")
        _wait(lambda: bool(app.control.ping(timeout=0.5)), 120, "the fresh worker")
        time.sleep(LEASE + 1)  # the dead worker's claims and sender lease lapse
        tick.delay()  # what celery beat does every minute: settle, then resume sending
        _wait(lambda: not SmsMessage.objects.filter(status__in=(
            SmsMessage.Status.QUEUED, SmsMessage.Status.SENDING,
            SmsMessage.Status.UNKNOWN)).exists(), 180, "the fresh worker to finish")
    finally:
        for proc in (first, fresh):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)
        app.conf.task_always_eager = True

    per_number = collections.Counter(m["to"] for m in standin.messages)
    assert len(per_number) == SUBJECTS
    assert set(per_number.values()) == {1}, "a subject got more than one SMS"
    invitations = SmsMessage.objects.filter(request__campaign=campaign)
    assert invitations.count() == SUBJECTS
    assert set(invitations.values_list("status", flat=True)) == {SmsMessage.Status.SUBMITTED}
    assert {m["sid"] for m in standin.messages} == set(
        invitations.values_list("provider_sid", flat=True))
    assert ConsentRequest.objects.filter(campaign=campaign, status="sent").count() == SUBJECTS
    if in_flight:  # settled by the lookup: found ones kept, missing ones sent once more
        from audit.models import AuditEvent

        settled = AuditEvent.objects.filter(action="sms.settled")
        assert settled.count() == in_flight
        print(f"killed with {killed_at} sent and {in_flight} claimed in flight; settled: "
              f"{collections.Counter(e.details['outcome'] for e in settled)}")
