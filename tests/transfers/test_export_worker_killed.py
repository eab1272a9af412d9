"""A worker killed in the middle of an export: running it again builds the same release,
with no duplicate. PostgreSQL and a real Celery worker on the real broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest
from django.conf import settings as django_settings

from audit.signing import service_public_key_bytes
from governance.models import EntrustmentRecord, ProvisionRecord
from tests.conftest import ROOT, _purge_queues, _wait_until_worker_answers, use_broker
from tests.transfers.conftest import upload_rows
from tests.transfers.reader import read_release_dir
from transfers import synthetic
from transfers.models import Release, ReleaseGroup
from transfers.selectors import release_subjects
from transfers.services import release_path, release_request, release_retry
from transfers.services.common import releases_dir

pytestmark = [pytest.mark.postgres, pytest.mark.celery_worker]


def _worker(settings):
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_ENV": "test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": settings.TEST_CELERY_BROKER_URL,
        "VAR_DIR": str(settings.VAR_DIR), "RELEASES_DIR": str(settings.RELEASES_DIR),
        "TRANSFERS_RELEASE_CHUNK_RECORDS": "10",
    })
    # One process (solo pool): killing it kills the export in flight.
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=WARNING",
         "-Q", "exports,default,audit", "--pool=solo", "--without-heartbeat",
         "--without-gossip", "--without-mingle", "-n", f"export-{time.time_ns()}@%h"],
        cwd=ROOT, env=env)


def _wait(predicate, timeout=180.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def broker(transactional_db, settings):
    from config.celery import app

    use_broker(app, settings.TEST_CELERY_BROKER_URL)
    app.conf.task_always_eager = False
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.AUDIT_SEAL_INLINE = False
    _purge_queues(app)
    yield app
    app.conf.task_always_eager = True


def test_a_worker_killed_during_an_export_leaves_nothing_and_the_rerun_builds_the_release(
        broker, settings, approved_plan, incoming_operator):
    rows = list(synthetic.rows("merchant", 1, 40)) + list(synthetic.rows("user", 1, 60))
    upload_rows(approved_plan, rows)
    db = settings.DATABASES["default"]
    blocker = psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"],
                              dbname=db["NAME"], autocommit=False)
    worker = _worker(settings)
    try:
        _wait_until_worker_answers(broker, worker, timeout=120)
        # Hold writes to the release items: the export writes its first chunk file, then
        # waits on this lock, half-way through, when we kill it.
        blocker.execute("LOCK TABLE transfers_releasegroup IN EXCLUSIVE MODE")
        release = release_request(plan=approved_plan, by=("operator", "operator:SHINHAN"))
        partial = releases_dir() / f"{release.public_id}.partial" / "chunks" / "000001.bin"
        _wait(partial.exists, what="the first chunk of the export")
        time.sleep(0.5)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        blocker.rollback()
        blocker.close()
        if worker.poll() is None:
            worker.kill()
    release.refresh_from_db()
    assert release.status == Release.Status.PENDING
    assert ReleaseGroup.objects.count() == 0 and ProvisionRecord.objects.count() == 0
    assert EntrustmentRecord.objects.count() == 0
    assert not release_path(release).exists()

    worker = _worker(settings)
    try:
        _wait_until_worker_answers(broker, worker, timeout=120)
        release_retry(release=release, by=None)

        def ready():
            release.refresh_from_db()
            return release.status == Release.Status.READY
        _wait(ready, what="the re-run export")
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    assert Release.objects.count() == 1 and release.number == 1
    assert release.record_count == 100 and release.chunk_count == 10
    carried = [subject_id for subject_id, _fields in release_subjects(release.pk)]
    assert len(carried) == 100 == len(set(carried))
    # Registered once, not twice by the killed run and the re-run: what moved here is the
    # city's data between its processors, an entrustment change (no user was notified, so
    # none of KEPF's own items moved and there is no provision).
    assert EntrustmentRecord.objects.count() == 1 and ProvisionRecord.objects.count() == 0
    manifest, records = read_release_dir(release_path(release),
                                         incoming_operator.hpke_private_key,
                                         service_public_key_bytes())
    assert sorted(r["external_id"] for r in records) == sorted(r["external_id"] for r in rows)
    assert len({r["subject"] for r in records}) == 100
    assert not (releases_dir() / f"{release.public_id}.partial").exists()
    assert django_settings.RELEASES_DIR == settings.RELEASES_DIR
