"""core.tasks.enqueue_on_commit: its contract, held to Django's and Celery's behaviour."""

from __future__ import annotations

import pytest
from celery import shared_task
from django.core.cache import cache
from django.db import transaction

from core import tasks as core_tasks
from core.tasks import enqueue_on_commit

pytestmark = pytest.mark.django_db(transaction=True)

RUNS: list[tuple] = []


@shared_task(name="tests.core.remember")
def remember(*args, **kwargs):
    RUNS.append((args, kwargs))


@pytest.fixture(autouse=True)
def _fresh():
    RUNS.clear()
    core_tasks._coalesced_at.clear()
    cache.clear()
    yield
    RUNS.clear()


@pytest.fixture
def broker(settings, monkeypatch):
    """As with a broker: what would be sent, instead of sending it."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    sent = []
    monkeypatch.setattr(remember, "apply_async",
                        lambda args=(), kwargs=None, countdown=None: sent.append(
                            (args, kwargs or {}, countdown)))
    return sent


def test_it_runs_in_process_after_the_commit_without_a_broker(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with transaction.atomic():
        enqueue_on_commit(remember, 1, colour="red")
        assert RUNS == []
    assert RUNS == [((1,), {"colour": "red"})]


def test_it_runs_nothing_when_the_transaction_rolls_back(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_on_commit(remember, 1)
        raise RuntimeError
    assert RUNS == []


def test_it_runs_at_once_outside_a_transaction(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    enqueue_on_commit("tests.core.remember", 2)
    assert RUNS == [((2,), {})]


def test_it_sends_to_the_broker_with_its_countdown(broker):
    with transaction.atomic():
        enqueue_on_commit(remember, 3, countdown=1.5)
    assert broker == [((3,), {}, 1.5)]


def test_in_process_overrides_the_broker_for_one_call(broker):
    enqueue_on_commit(remember, 4, in_process=True)
    assert broker == [] and RUNS == [((4,), {})]


def test_once_per_transaction_queues_one_run_for_many_requests(broker):
    with transaction.atomic():
        for _ in range(50):
            enqueue_on_commit(remember, 5, once_per_transaction=True)
        enqueue_on_commit(remember, 6, once_per_transaction=True)
    assert broker == [((5,), {}, None), ((6,), {}, None)]


def test_once_per_transaction_requeues_after_a_rolled_back_savepoint(broker):
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            enqueue_on_commit(remember, 7, once_per_transaction=True)
            raise RuntimeError
        enqueue_on_commit(remember, 7, once_per_transaction=True)
    assert broker == [((7,), {}, None)]


def test_once_per_transaction_is_covered_by_a_request_from_an_outer_level(broker):
    with transaction.atomic():
        enqueue_on_commit(remember, 8, once_per_transaction=True)
        with pytest.raises(RuntimeError), transaction.atomic():
            enqueue_on_commit(remember, 8, once_per_transaction=True)
            raise RuntimeError
    assert broker == [((8,), {}, None)]


def test_coalesce_queues_one_run_per_window_across_callers(broker):
    for _ in range(5):
        enqueue_on_commit(remember, 9, countdown=30, coalesce=True)
    core_tasks._coalesced_at.clear()  # as another process would: only the cache flag is shared
    enqueue_on_commit(remember, 9, countdown=30, coalesce=True)
    enqueue_on_commit(remember, 10, countdown=30, coalesce=True)
    assert broker == [((9,), {}, 30), ((10,), {}, 30)]


def test_coalesce_without_a_window_is_refused():
    with pytest.raises(ValueError, match="countdown"):
        enqueue_on_commit(remember, 1, coalesce=True)
