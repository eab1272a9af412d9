"""Sealing after commit: gapless seq, entry hashes, frontier, checkpoints, debouncing."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone

from audit.chain import canonical_entry, entry_hash
from audit.merkle import MerkleTree, leaf_hash
from audit.models import AuditEvent, Checkpoint, LogState
from audit.sealing import audit_log_seal, audit_seal_soon
from audit.services import audit_record

from .conftest import record


def test_events_are_sealed_in_order_right_after_commit_in_the_embedded_default(
        transactional_db, settings):
    settings.AUDIT_SEAL_INLINE = True
    record(5)
    events = list(AuditEvent.objects.order_by("id"))
    assert [e.seq for e in events] == [0, 1, 2, 3, 4]
    for e in events:
        canonical = canonical_entry(seq=e.seq, created_at=e.created_at, actor_type=e.actor_type,
                                    actor_id=e.actor_id, action=e.action,
                                    target_type=e.target_type, target_id=e.target_id,
                                    details=e.details, request_id=e.request_id)
        assert e.entry_hash == entry_hash(canonical).hex()
        assert e.sealed_at is not None
    state = LogState.objects.get()
    tree = MerkleTree([leaf_hash(bytes.fromhex(e.entry_hash)) for e in events])
    assert state.size == 5 and state.root_hash == tree.root().hex()


def test_the_first_sealing_signs_a_checkpoint_and_the_next_waits_for_the_interval(
        transactional_db, settings):
    settings.AUDIT_SEAL_INLINE = True
    settings.AUDIT_CHECKPOINT_INTERVAL = 3600
    record(2)
    assert list(Checkpoint.objects.values_list("size", flat=True)) == [1]
    result = audit_log_seal()
    assert result.checkpoint is None and 0 < result.checkpoint_due_in <= 3600
    later = audit_log_seal(now=timezone.now() + timedelta(hours=2))
    assert later.checkpoint.size == 2
    assert Checkpoint.objects.get(size=2).note.splitlines()[1] == "2"


def test_a_forced_checkpoint_covers_everything_sealed(transactional_db, settings):
    settings.AUDIT_SEAL_INLINE = False
    with mock.patch("audit.tasks.seal_audit_log.apply_async"):
        record(3)
    assert AuditEvent.objects.filter(seq__isnull=True).count() == 3
    result = audit_log_seal(force_checkpoint=True)
    assert result.sealed == 3 and result.checkpoint.size == 3


def test_an_event_committed_late_takes_the_next_seq_without_a_gap(transactional_db, settings):
    settings.AUDIT_SEAL_INLINE = False
    with mock.patch("audit.tasks.seal_audit_log.apply_async"):
        record(2)
        audit_log_seal()
        record(1, start=2)
    audit_log_seal()
    assert sorted(AuditEvent.objects.values_list("seq", flat=True)) == [0, 1, 2]


def test_many_writers_in_one_window_enqueue_a_single_sealing_task(transactional_db, settings):
    settings.AUDIT_SEAL_INLINE = False
    from django.core.cache import cache

    cache.clear()
    with mock.patch("audit.tasks.seal_audit_log.apply_async") as enqueue:
        record(20)
    assert enqueue.call_count == 1
    assert enqueue.call_args.kwargs["countdown"] > 0


def test_a_failing_sealer_never_fails_the_writer(transactional_db, settings, caplog):
    settings.AUDIT_SEAL_INLINE = True
    with mock.patch("audit.sealing.audit_log_seal", side_effect=RuntimeError("db down")):
        with transaction.atomic():
            event = audit_record(actor_type="system", actor_id="system:test", action="x.done",
                                 target_type="thing", target_id=1)
    assert AuditEvent.objects.get(pk=event.pk).seq is None
    assert "audit sealing deferred" in caplog.text
    audit_seal_soon()
    assert AuditEvent.objects.get(pk=event.pk).seq == 0


def test_the_seal_audit_command_seals_and_signs_on_request(transactional_db, settings):
    from django.core.management import call_command

    settings.AUDIT_SEAL_INLINE = False
    with mock.patch("audit.tasks.seal_audit_log.apply_async"):
        record(4)
    call_command("seal_audit", "--checkpoint")
    assert Checkpoint.objects.get().size == 4


def test_a_transaction_recording_many_events_asks_for_sealing_once(db, settings,
                                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        for i in range(50):
            audit_record(actor_type="system", actor_id="system:bulk", action="bulk.item",
                         target_type="item", target_id=i)
    assert len(callbacks) == 1


def test_a_rolled_back_savepoint_does_not_take_the_sealing_request_with_it(
        transactional_db, settings):
    settings.AUDIT_SEAL_INLINE = True
    with transaction.atomic():
        try:
            with transaction.atomic():
                audit_record(actor_type="system", actor_id="system:a", action="x.inner",
                             target_type="t", target_id=1)
                raise RuntimeError("inner change failed")
        except RuntimeError:
            pass
        audit_record(actor_type="system", actor_id="system:a", action="x.outer",
                     target_type="t", target_id=2)
    assert list(AuditEvent.objects.values_list("action", "seq")) == [("x.outer", 0)]


def _lose_the_log_state(*, size: int | None = None) -> None:
    """What a hostile app role could do before the grants and triggers refused it."""
    from audit.maintenance import maintenance_mode

    with maintenance_mode():
        if size is None:
            LogState.objects.all().delete()
        else:
            LogState.objects.update(size=size)


def test_it_refuses_to_start_a_new_chain_when_the_log_state_row_is_missing(sealed_log,
                                                                           settings):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    settings.AUDIT_SEAL_INLINE = False
    signed = list(Checkpoint.objects.values_list("size", "root_hash"))
    _lose_the_log_state()
    with mock.patch("audit.tasks.seal_audit_log.apply_async"):
        record(1, start=sealed_log)
    with pytest.raises(CommandError, match=r"the audit log state row is missing, but "
                                           r"entries up to seq 11 are sealed"):
        call_command("seal_audit")
    assert not LogState.objects.exists()  # not recreated at size 0
    assert sorted(AuditEvent.objects.exclude(seq=None).values_list("seq", flat=True)) == \
        list(range(sealed_log))
    assert AuditEvent.objects.filter(seq=None).count() == 1
    assert list(Checkpoint.objects.values_list("size", "root_hash")) == signed


def test_it_refuses_to_seal_when_the_log_state_was_wound_back(sealed_log, settings):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    settings.AUDIT_SEAL_INLINE = False
    _lose_the_log_state(size=5)
    with mock.patch("audit.tasks.seal_audit_log.apply_async"):
        record(1, start=sealed_log)
    with pytest.raises(CommandError, match=r"the audit log state says 5 entries, but "
                                           r"entries up to seq 11 are sealed"):
        call_command("seal_audit")
    assert AuditEvent.objects.filter(seq=None).count() == 1


def test_it_refuses_to_restart_when_only_checkpoints_are_left(sealed_log, settings):
    from audit.maintenance import maintenance_mode
    from audit.sealing import LogStateLost

    _lose_the_log_state()
    with maintenance_mode():
        AuditEvent.objects.all().delete()  # a signed checkpoint still says 12 entries existed
    with pytest.raises(LogStateLost, match="a checkpoint signs 12 entries"):
        audit_log_seal()
    assert not LogState.objects.exists()


def test_a_writer_commits_and_the_lost_log_state_is_logged_loudly(sealed_log, settings,
                                                                  caplog):
    settings.AUDIT_SEAL_INLINE = True
    _lose_the_log_state()
    record(1, start=sealed_log)  # the writer's commit is never failed by the sealer
    event = AuditEvent.objects.get(target_id=str(sealed_log))
    assert event.seq is None
    critical = [r for r in caplog.records if r.levelname == "CRITICAL"]
    assert len(critical) == 1
    assert "sealing stops" in critical[0].getMessage()
    assert "log state row is missing" in critical[0].getMessage()


def test_the_sealing_task_gives_up_at_once_on_a_lost_log_state(sealed_log, settings, caplog):
    from audit.sealing import LogStateLost
    from audit.tasks import seal_audit_log

    settings.AUDIT_SEAL_INLINE = False
    _lose_the_log_state()
    with mock.patch("audit.tasks.seal_audit_log.apply_async"):
        record(1, start=sealed_log)
    with pytest.raises(LogStateLost):  # the test settings propagate eager task errors
        seal_audit_log.apply()
    # No retries: trying again cannot help until someone restores the state row.
    assert len([r for r in caplog.records if r.levelname == "CRITICAL"]) == 1
