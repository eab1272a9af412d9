"""Sealing after commit: gapless seq, entry hashes, frontier, checkpoints, debouncing."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

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
