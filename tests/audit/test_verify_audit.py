"""verify_audit re-checks the log in the database and names the first bad entry."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.maintenance import maintenance_mode
from audit.models import AuditEvent, Checkpoint


def test_an_untouched_log_verifies(sealed_log, capsys):
    call_command("verify_audit")
    assert f"OK: {sealed_log} entries" in capsys.readouterr().out


def test_it_can_seal_and_sign_a_final_checkpoint_first(transactional_db, settings, capsys):
    from unittest import mock

    from .conftest import record

    settings.AUDIT_SEAL_INLINE = False
    with mock.patch("audit.tasks.seal_audit_log.apply_async"):
        record(3)
    call_command("verify_audit", "--seal")
    assert "OK: 3 entries, 1 signed checkpoints" in capsys.readouterr().out
    assert Checkpoint.objects.get().size == 3


def test_an_edited_entry_is_named(sealed_log):
    with maintenance_mode():
        AuditEvent.objects.filter(seq=4).update(target_id="999")
    with pytest.raises(CommandError, match="entry 4: its content does not match its hash"):
        call_command("verify_audit")


def test_an_edited_entry_with_a_recomputed_hash_breaks_the_signed_root(sealed_log):
    from audit.chain import canonical_entry, entry_hash

    event = AuditEvent.objects.get(seq=6)
    forged = entry_hash(canonical_entry(
        seq=6, created_at=event.created_at, actor_type=event.actor_type,
        actor_id=event.actor_id, action="plan.rejected", target_type=event.target_type,
        target_id=event.target_id, details=event.details, request_id=event.request_id)).hex()
    with maintenance_mode():
        AuditEvent.objects.filter(seq=6).update(action="plan.rejected", entry_hash=forged)
    with pytest.raises(CommandError, match=r"checkpoint (7|8|9|10|11|12): the entries before it"):
        call_command("verify_audit")


def test_a_deleted_entry_is_named(sealed_log):
    with maintenance_mode():
        AuditEvent.objects.filter(seq=2).delete()
    with pytest.raises(CommandError, match="entry 2 is missing"):
        call_command("verify_audit")


def test_a_truncated_log_is_caught_by_its_checkpoint(sealed_log):
    with maintenance_mode():
        AuditEvent.objects.filter(seq__gte=10).delete()
    with pytest.raises(CommandError,
                       match=r"checkpoint 11 covers entries up to 10, but the log ends at 9"):
        call_command("verify_audit")


def test_a_forged_checkpoint_is_named(sealed_log):
    note = Checkpoint.objects.get(size=12).note.replace("\n12\n", "\n11\n")
    with maintenance_mode():
        Checkpoint.objects.filter(size=12).update(note=note)
    with pytest.raises(CommandError, match="checkpoint 12: bad signature"):
        call_command("verify_audit")


def test_awkward_details_survive_the_round_trip_through_the_database(transactional_db,
                                                                     settings, capsys):
    from django.db import transaction

    from audit.services import audit_record

    settings.AUDIT_SEAL_INLINE = True
    awkward = [
        {"ratio": 0.1, "big": 1e20, "neg": -0.0, "int": 2**62},
        {"text": 'quote " backslash \\ tab \t line\u2028sep 한글 \U0001f600', "empty": ""},
        {"nested": {"b": [1, {"z": None, "a": True}], "a": []}, "": "empty key"},
    ]
    for details in awkward:
        with transaction.atomic():
            audit_record(actor_type="system", actor_id="system:test", action="odd.details",
                         target_type="thing", target_id="1", details=details)
    call_command("verify_audit", "--seal")
    assert "OK: 3 entries" in capsys.readouterr().out


def test_reordered_entries_are_named(sealed_log):
    with maintenance_mode():
        AuditEvent.objects.filter(seq=3).update(seq=-1)
        AuditEvent.objects.filter(seq=4).update(seq=3)
        AuditEvent.objects.filter(seq=-1).update(seq=4)
    with pytest.raises(CommandError, match="entry 3: its content does not match its hash"):
        call_command("verify_audit")


def test_an_entry_slipped_in_at_the_end_with_a_valid_hash_is_caught(sealed_log):
    from django.utils import timezone

    from audit.chain import canonical_entry, entry_hash

    fields = {"created_at": timezone.now(), "actor_type": "system", "actor_id": "system:x",
              "action": "plan.approved", "target_type": "transfer_plan", "target_id": "99",
              "details": {}, "request_id": ""}
    digest = entry_hash(canonical_entry(seq=sealed_log, **fields)).hex()
    with maintenance_mode():  # the database itself refuses this otherwise (test_append_only)
        AuditEvent.objects.create(seq=sealed_log, entry_hash=digest,
                                  sealed_at=fields["created_at"], **fields)
    with pytest.raises(CommandError, match=f"the log state says {sealed_log} entries"):
        call_command("verify_audit")


def _record_unsealed(n: int, *, minutes_ago: float, start: int = 100) -> None:
    """n events that the writers committed ``minutes_ago``, which no sealer has taken since."""
    from datetime import timedelta
    from unittest import mock

    from django.utils import timezone

    from .conftest import record

    recorded_at = timezone.now() - timedelta(minutes=minutes_ago)
    with mock.patch("audit.tasks.seal_audit_log.apply_async"), \
            mock.patch("django.utils.timezone.now", return_value=recorded_at):
        record(n, start=start)


def test_it_fails_when_events_stay_unsealed_longer_than_the_bound(sealed_log, settings):
    settings.AUDIT_SEAL_INLINE = False
    settings.AUDIT_MAX_UNSEALED_SECONDS = 300
    _record_unsealed(2, minutes_ago=10)
    with pytest.raises(CommandError, match=r"FAILED: 2 events have waited longer than 300 s "
                                           r"to be sealed .*the sealer is stopped or failing"):
        call_command("verify_audit")


def test_events_waiting_less_than_the_bound_still_verify(sealed_log, settings, capsys):
    settings.AUDIT_SEAL_INLINE = False
    settings.AUDIT_MAX_UNSEALED_SECONDS = 300
    _record_unsealed(2, minutes_ago=1)
    call_command("verify_audit")
    assert f"OK: {sealed_log} entries" in capsys.readouterr().out


def test_the_bound_can_be_set_on_the_command_line(sealed_log, settings, capsys):
    settings.AUDIT_SEAL_INLINE = False
    settings.AUDIT_MAX_UNSEALED_SECONDS = 300
    _record_unsealed(2, minutes_ago=10)
    call_command("verify_audit", "--max-unsealed-seconds", "3600")
    assert "(2 not yet sealed)" in capsys.readouterr().out
    settings.AUDIT_MAX_UNSEALED_SECONDS = 3600
    with pytest.raises(CommandError, match="waited longer than 60 s"):
        call_command("verify_audit", "--max-unsealed-seconds", "60")


def test_the_bound_has_a_default_of_a_few_minutes():
    from django.conf import settings

    assert 60 <= settings.AUDIT_MAX_UNSEALED_SECONDS <= 900


def test_a_missing_log_state_row_is_named(sealed_log):
    from audit.models import LogState

    with maintenance_mode():
        LogState.objects.all().delete()
    with pytest.raises(CommandError, match=f"the log state row is missing, but the table "
                                           f"holds {sealed_log} sealed entries"):
        call_command("verify_audit")


def test_a_log_sealed_further_while_it_is_read_still_verifies(sealed_log, monkeypatch):
    """The commission verifies a live log: events sealed after the entries were read make
    the state count more than was read, which is not a fault."""
    from audit import verification
    from audit.sealing import audit_log_seal

    from .conftest import record

    streamed = verification.sealed_entries

    def stream_then_seal_more(chunk_size):
        yield from streamed(chunk_size)
        record(3, start=200)
        audit_log_seal()

    monkeypatch.setattr(verification, "sealed_entries", stream_then_seal_more)

    report = verification.audit_log_verify()

    assert report.entries == sealed_log
    assert AuditEvent.objects.filter(seq__isnull=False).count() == sealed_log + 3


def test_entries_after_the_last_checkpoint_missing_from_the_read_are_caught(
        sealed_log, settings, monkeypatch):
    """Entries sealed after the last checkpoint are in no signed root: the state counted
    before the read still says they exist."""
    from audit import verification
    from audit.sealing import audit_log_seal

    from .conftest import record

    settings.AUDIT_CHECKPOINT_INTERVAL = 3600  # the next sealing signs no checkpoint
    record(2, start=300)
    audit_log_seal()
    assert Checkpoint.objects.order_by("-size").first().size == sealed_log
    streamed = verification.sealed_entries

    def stream_all_but_the_last(chunk_size):
        yield from list(streamed(chunk_size))[:-1]

    monkeypatch.setattr(verification, "sealed_entries", stream_all_but_the_last)

    with pytest.raises(verification.AuditLogCorrupt,
                       match=f"said {sealed_log + 2} entries when verification began, the "
                             f"table holds {sealed_log + 1}"):
        verification.audit_log_verify()
