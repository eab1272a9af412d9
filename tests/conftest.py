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


def _staff_in(django_user_model, username: str, group_name: str):
    """A staff account in one of the real groups (config/roles.py), not a superuser: what
    the admin lets it do is what production lets an officer do. Log it into the admin with
    ``tests.staff.login_verified`` (password and second factor)."""
    from django.contrib.auth.models import Group

    from config.roles import ensure_role_groups

    ensure_role_groups()
    user = django_user_model.objects.create_user(
        username=username, password="correct horse battery", is_staff=True)
    user.groups.add(Group.objects.get(name=group_name))
    return user


@pytest.fixture
def officer(django_user_model):
    """A privacy officer who drafts and submits plans."""
    return _staff_in(django_user_model, "officer-kim", "privacy officer")


@pytest.fixture
def second_officer(django_user_model):
    """Another privacy officer: the only kind of person who may approve Kim's plan."""
    return _staff_in(django_user_model, "officer-lee", "privacy officer")


@pytest.fixture
def commission_reviewer(django_user_model):
    """A PIPC reviewer: sees everything in the admin, changes nothing."""
    return _staff_in(django_user_model, "pipc-park", "commission reviewer")


@pytest.fixture
def clerk(django_user_model):
    """Choi, the broker's helpdesk clerk: a staff account in neither group, who logs into the
    admin with both factors and must see nothing there (Charlie of healthchecks' tests).

    She stands in for "the officer of another city": officers are not scoped to a controller
    (every officer sees every plan), so the account the admin must refuse is the one without
    a role."""
    from config.roles import ensure_role_groups

    ensure_role_groups()
    return django_user_model.objects.create_user(
        username="clerk-choi", password="correct horse battery", is_staff=True)


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
    use_broker(app, broker)
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


def use_broker(app, url: str) -> None:
    """Point the Celery app at ``url``, dropping connection pools made earlier: an eager
    ``.delay()`` in an earlier test builds them for the default broker (amqp://localhost),
    and pings and tasks would keep going there."""
    app.conf.broker_url = url
    app._pool = None  # kombu's pools are shared per URL: drop our references, close nothing
    app.amqp._producer_pool = None


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


def _wait_until_worker_answers(app, worker, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"celery worker exited with {worker.returncode}")
        if app.control.ping(timeout=0.5):
            return
    raise RuntimeError(f"celery worker did not answer a ping within {timeout:.0f} s")


# --- Governance: the parties, the catalogue, an approved plan (tests/governance owns these) ---


class OperatorParty:
    """An operator as the tests know it: the registered row and the private halves of the keys
    it registered (generated per test; only the public halves are in the database)."""

    def __init__(self, operator, hpke_private_key, signing_private_key):
        self.operator = operator
        self.hpke_private_key = hpke_private_key  # X25519PrivateKey: decrypts what we encrypt
        self.signing_private_key = signing_private_key  # Ed25519PrivateKey: signs its requests

    def __repr__(self) -> str:
        return f"<OperatorParty {self.operator.code}>"


def _party(code: str) -> OperatorParty:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from governance.models import OperatorKey
    from governance.seoul import seoul_operators_ensure
    from governance.services import operator_key_register

    operator = seoul_operators_ensure()[code]
    hpke, signing = X25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    raw = (Encoding.Raw, PublicFormat.Raw)
    operator_key_register(operator=operator, purpose=OperatorKey.Purpose.ENCRYPTION,
                          public_key=hpke.public_key().public_bytes(*raw), by=None)
    operator_key_register(operator=operator, purpose=OperatorKey.Purpose.SIGNATURE,
                          public_key=signing.public_key().public_bytes(*raw), by=None)
    return OperatorParty(operator, hpke, signing)


@pytest.fixture
def city(db):
    """The Seoul Metropolitan Government: controller of the programme's data."""
    from governance.seoul import seoul_operators_ensure

    return seoul_operators_ensure()["SEOUL"]


@pytest.fixture
def outgoing_operator(db) -> OperatorParty:
    """KEPF, the outgoing operator (``.operator``, ``.hpke_private_key``,
    ``.signing_private_key``)."""
    return _party("KEPF")


@pytest.fixture
def incoming_operator(db) -> OperatorParty:
    """The Shinhan consortium, the incoming operator, with its private keys."""
    return _party("SHINHAN")


@pytest.fixture
def unrelated_operator(db) -> OperatorParty:
    """The Bizplay consortium: registered, keyed, and party to nothing here. Must see nothing."""
    return _party("BIZPLAY")


@pytest.fixture
def field_catalogue(db) -> dict:
    """The Seoul field catalogue (20 fields), by key: ``field_catalogue["user.phone"]``."""
    from governance.seoul import seoul_catalogue_ensure

    return seoul_catalogue_ensure()


@pytest.fixture
def approved_plan(db, officer, second_officer, outgoing_operator, incoming_operator,
                  field_catalogue):
    """KEPF → Shinhan, submitted by Kim and approved by Lee, using every legal basis
    (governance.seoul.FIELDS) and the Seoul map's notes on what never moves, with a 30-day
    Art. 27 notice period. No notice has reached anyone yet: `notice_opt_out` fields wait for
    each subject's own evidence (see `notified_long_ago`)."""
    import datetime as dt

    from django.utils import timezone

    from governance.seoul import NOT_MOVED_REASONS, PLAN_VALUES, seoul_plan_rules
    from governance.services import plan_approve, plan_create, plan_rule_set, plan_submit

    now = timezone.now()
    plan = plan_create(
        by=officer, from_operator=outgoing_operator.operator,
        to_operator=incoming_operator.operator, rules=seoul_plan_rules(field_catalogue),
        notice_starts_at=now, cutover_at=now + dt.timedelta(days=31), **PLAN_VALUES)
    for key, why in NOT_MOVED_REASONS.items():  # as the demo does: why it never moves
        plan_rule_set(plan=plan, field=field_catalogue[key], basis="prohibited", by=officer,
                      note=why[:300])
    plan_submit(plan=plan, by=officer)
    return plan_approve(plan=plan, by=second_officer)


@pytest.fixture
def merchant(db, outgoing_operator):
    """A merchant held by KEPF, with a synthetic mobile number and business number."""
    from governance.models import DataSubject
    from governance.seoul import synthetic_brn, synthetic_phone
    from governance.services import subjects_upsert

    result = subjects_upsert(operator=outgoing_operator.operator, kind="merchant", by=None,
                             rows=[{"external_id": "M-000001", "phone": synthetic_phone(1),
                                    "brn": synthetic_brn(1)}])
    return DataSubject.objects.get(pk=result.ids["M-000001"])


@pytest.fixture
def user(db, outgoing_operator):
    """A certificate user held by KEPF, with a synthetic mobile number."""
    from governance.models import DataSubject
    from governance.seoul import synthetic_phone
    from governance.services import subjects_upsert

    result = subjects_upsert(operator=outgoing_operator.operator, kind="user", by=None,
                             rows=[{"external_id": "U-000001", "phone": synthetic_phone(2)}])
    return DataSubject.objects.get(pk=result.ids["U-000001"])

