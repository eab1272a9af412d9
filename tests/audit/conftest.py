"""Fixtures for the audit trail: a log with events in it, sealed and checkpointed."""

from __future__ import annotations

import pytest
from django.db import transaction

from audit.services import audit_record


def record(n: int, *, action: str = "plan.approved", start: int = 0) -> None:
    """n events, each committed in its own transaction, as callers write them."""
    for i in range(start, start + n):
        with transaction.atomic():
            audit_record(actor_type="officer", actor_id=f"user:{i % 3 + 1}", action=action,
                         target_type="transfer_plan", target_id=str(i),
                         details={"version": i, "fields": ["merchant.name"], "note": "검토 완료"})


@pytest.fixture
def sealed_log(transactional_db, settings):
    """Twelve committed events, sealed inline, with a final checkpoint over all of them."""
    from audit.sealing import audit_log_seal

    settings.AUDIT_SEAL_INLINE = True
    settings.AUDIT_CHECKPOINT_INTERVAL = 0
    record(12)
    audit_log_seal(force_checkpoint=True)
    return 12


@pytest.fixture(autouse=True)
def no_sealing_queued_yet(monkeypatch):
    """Each test starts with no sealing task queued by an earlier one (debounce state)."""
    from django.core.cache import cache

    from audit import sealing

    monkeypatch.setattr(sealing, "_last_enqueued", -1e9)
    cache.delete_many([sealing.SEAL_QUEUED_FLAG, sealing.CHECKPOINT_QUEUED_FLAG])
