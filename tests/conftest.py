"""Shared fixtures: the people of CONVENTIONS.md and the real parts (Celery worker).

App-specific fixtures live in tests/<app>/conftest.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config, items):
    """Skip what this machine cannot run, and say why."""
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL (run with DATABASE_URL=postgres://…)")
    skip_worker = pytest.mark.skip(reason="needs a broker (TEST_CELERY_BROKER_URL) and PostgreSQL")
    skip_browser = pytest.mark.skip(reason="needs Debian's chromium at /usr/bin/chromium")
    for item in items:
        if "postgres" in item.keywords and not settings.IS_POSTGRES:
            item.add_marker(skip_pg)
        if "celery_worker" in item.keywords and not (
            settings.TEST_CELERY_BROKER_URL and settings.IS_POSTGRES
        ):
            item.add_marker(skip_worker)
        if "browser" in item.keywords and not shutil.which("chromium"):
            item.add_marker(skip_browser)


# --- The people -------------------------------------------------------------------------


@pytest.fixture
def officer(django_user_model):
    """A privacy officer who drafts and submits plans."""
    return django_user_model.objects.create_user(
        username="officer-kim", password="correct horse battery", is_staff=True,
        is_superuser=True,
    )


@pytest.fixture
def second_officer(django_user_model):
    """Another privacy officer: the only kind of person who may approve Kim's plan."""
    return django_user_model.objects.create_user(
        username="officer-lee", password="correct horse battery", is_staff=True,
        is_superuser=True,
    )


@pytest.fixture
def commission_reviewer(django_user_model):
    """A PIPC reviewer: sees everything in the admin, changes nothing."""
    from django.contrib.auth.models import Group

    from config.roles import ensure_role_groups

    ensure_role_groups()
    user = django_user_model.objects.create_user(
        username="pipc-park", password="correct horse battery", is_staff=True,
    )
    user.groups.add(Group.objects.get(name="commission reviewer"))
    return user


# --- Real parts -------------------------------------------------------------------------


@pytest.fixture
def celery_worker_process(transactional_db, settings):
    """A real `celery worker` on the real broker, reading the test database.

    Use with tests marked ``celery_worker``; the data they create must be committed
    (``transactional_db``), since the worker is another process.
    """
    from config.celery import app

    broker = settings.TEST_CELERY_BROKER_URL
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_ENV": "test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": broker,
        "VAR_DIR": str(settings.VAR_DIR),
    })
    app.conf.broker_url = broker
    app.conf.task_always_eager = False
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.AUDIT_SEAL_INLINE = False
    _purge_queues(app)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=WARNING",
         "-Q", "default,audit,sms,exports", "--concurrency=2", "--without-heartbeat",
         "--without-gossip", "--without-mingle", "-n", f"test-{os.getpid()}@%h"],
        cwd=ROOT, env=env,
    )
    try:
        _wait_until_worker_answers(app, worker)
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        app.conf.task_always_eager = True


def _purge_queues(app) -> None:
    with app.connection_for_write() as conn:
        for queue in ("default", "audit", "sms", "exports"):
            conn.default_channel.queue_purge(queue) if _queue_exists(conn, queue) else None


def _queue_exists(conn, queue: str) -> bool:
    try:
        conn.default_channel.queue_declare(queue=queue, passive=True)
        return True
    except Exception:  # noqa: BLE001 - a missing queue is simply "nothing to purge"
        return False


def _wait_until_worker_answers(app, worker, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"celery worker exited with {worker.returncode}")
        if app.control.ping(timeout=0.5):
            return
    raise RuntimeError("celery worker did not answer a ping within 30 s")
