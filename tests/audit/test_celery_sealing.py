"""With workers, a real Celery worker seals what the writers committed and signs a checkpoint."""

from __future__ import annotations

import time

import pytest

from audit.models import AuditEvent, Checkpoint

from .conftest import record


def _wait_for(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.celery_worker
@pytest.mark.postgres
def test_a_worker_seals_committed_events_and_signs_a_checkpoint(celery_worker_process,
                                                                settings):
    from django.core.cache import cache

    cache.clear()
    record(30)
    assert AuditEvent.objects.count() == 30
    assert _wait_for(lambda: not AuditEvent.objects.filter(seq__isnull=True).exists())
    assert sorted(AuditEvent.objects.values_list("seq", flat=True)) == list(range(30))
    # The worker signs a checkpoint covering all of them once the interval allows.
    assert _wait_for(lambda: Checkpoint.objects.filter(size=30).exists())
