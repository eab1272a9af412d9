"""The database refuses to rewrite history, on SQLite and PostgreSQL, even for the owner."""

from __future__ import annotations

import uuid

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audit.maintenance import maintenance_mode
from audit.models import AuditEvent, Checkpoint, LogState


def _refused(fn) -> str:
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        fn()
    return str(caught.value)


def test_a_sealed_entry_cannot_be_edited(sealed_log):
    message = _refused(lambda: AuditEvent.objects.filter(seq=3).update(action="plan.rejected"))
    assert "append-only" in message
    assert AuditEvent.objects.get(seq=3).action == "plan.approved"


def test_a_sealed_entry_cannot_be_renumbered_or_rehashed(sealed_log):
    _refused(lambda: AuditEvent.objects.filter(seq=11).update(seq=99))
    _refused(lambda: AuditEvent.objects.filter(seq=0).update(entry_hash="0" * 64))
    assert AuditEvent.objects.filter(seq=11).exists()


def test_entries_cannot_be_deleted(sealed_log):
    assert "append-only" in _refused(lambda: AuditEvent.objects.filter(seq=5).delete())
    assert "append-only" in _refused(lambda: AuditEvent.objects.all().delete())
    assert AuditEvent.objects.count() == sealed_log


def test_an_entry_cannot_arrive_already_sealed(sealed_log):
    from django.utils import timezone

    def insert_sealed(**seal):
        AuditEvent.objects.create(actor_type="system", actor_id="system:x", action="x.forged",
                                  target_type="t", target_id="1", **seal)

    for seal in ({"seq": sealed_log}, {"entry_hash": "ab" * 32},
                 {"sealed_at": timezone.now()}):
        assert "arrive unsealed" in _refused(lambda seal=seal: insert_sealed(**seal))
    assert AuditEvent.objects.count() == sealed_log
    from audit.sealing import audit_log_seal

    assert audit_log_seal().size == sealed_log  # the sealer is not blocked


def test_checkpoints_cannot_be_edited_or_deleted(sealed_log):
    _refused(lambda: Checkpoint.objects.update(root_hash="0" * 64))
    _refused(lambda: Checkpoint.objects.all().delete())
    assert Checkpoint.objects.filter(size=12).exists()


def test_sealing_may_not_change_an_unsealed_entrys_content(transactional_db, settings):
    from unittest import mock

    from .conftest import record

    settings.AUDIT_SEAL_INLINE = False
    with mock.patch("audit.tasks.seal_audit_log.apply_async"):
        record(1)
    _refused(lambda: AuditEvent.objects.update(seq=0, action="forged"))
    assert AuditEvent.objects.get().action == "plan.approved"


def test_flush_without_the_test_settings_exemption_fails_on_a_log(sealed_log, settings):
    settings.AUDIT_ALLOW_FLUSH = False
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as caught:
        call_command("flush", interactive=False, verbosity=0)
    # Whichever audit table the flush reaches first refuses it (PostgreSQL truncates all).
    refusal = str(caught.value.__cause__)
    assert any(says in refusal for says in ("append-only", "log state is kept",
                                            "witness states are kept"))
    assert AuditEvent.objects.count() == sealed_log


def test_it_refuses_to_delete_the_log_state_row(sealed_log):
    assert "log state" in _refused(lambda: LogState.objects.all().delete())
    assert LogState.objects.get().size == sealed_log


def test_it_refuses_to_wind_the_log_state_back(sealed_log):
    # The same attack as deleting the row: the sealer would hand out seq 0 again.
    assert "log state" in _refused(lambda: LogState.objects.update(size=0, frontier=[]))
    assert "log state" in _refused(lambda: LogState.objects.update(checkpoint_size=0))
    assert "log state" in _refused(lambda: LogState.objects.update(id=2))
    assert LogState.objects.get(pk=LogState.SINGLETON_ID).size == sealed_log


def test_maintenance_mode_is_what_lets_the_test_suite_flush(sealed_log):
    with maintenance_mode():
        call_command("flush", interactive=False, verbosity=0)
    assert not AuditEvent.objects.exists()
    assert not LogState.objects.exists()
    from audit.sealing import audit_log_seal

    from .conftest import record

    record(1)  # an emptied log starts again at seq 0, as a new log should
    assert list(AuditEvent.objects.values_list("seq", flat=True)) == [0]
    assert audit_log_seal().size == 1


@pytest.mark.postgres
def test_truncate_is_refused_on_postgresql(sealed_log):
    def truncate():
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE audit_auditevent")

    def truncate_checkpoints():
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE audit_checkpoint CASCADE")

    def truncate_state():
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE audit_logstate")

    assert "append-only" in _refused(truncate)
    assert "append-only" in _refused(truncate_checkpoints)
    assert "log state" in _refused(truncate_state)
    assert AuditEvent.objects.count() == sealed_log
    assert LogState.objects.get().size == sealed_log


@pytest.mark.postgres
def test_the_applications_role_cannot_update_delete_or_truncate_even_in_maintenance_mode(
        sealed_log):
    role = f"audit_app_{uuid.uuid4().hex[:10]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
    try:
        call_command("audit_db_roles", "--role", role, "--apply", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute(f"SET ROLE {role}")
            cursor.execute("SELECT set_config('audit.maintenance', 'on', false)")
        try:
            # What the application needs still works: record and seal.
            from audit.sealing import audit_log_seal

            from .conftest import record

            record(1, start=100)
            assert audit_log_seal(force_checkpoint=True).size == sealed_log + 1
            for sql in ("UPDATE audit_auditevent SET action = 'x' WHERE seq = 1",
                        "UPDATE audit_auditevent SET seq = 500 WHERE seq = 1",
                        "DELETE FROM audit_auditevent WHERE seq = 2",
                        "TRUNCATE audit_auditevent",
                        "UPDATE audit_checkpoint SET root_hash = 'x'",
                        "DELETE FROM audit_checkpoint",
                        "INSERT INTO audit_auditevent (created_at, actor_type, actor_id, action,"
                        " target_type, target_id, details, request_id, entry_hash, seq) VALUES"
                        " (now(), 'system', 's', 'a', 't', '1', '{}', '', '', 999)"):
                def attempt(sql=sql):
                    with connection.cursor() as cursor:
                        cursor.execute(sql)
                message = _refused(attempt)
                assert any(m in message for m in ("permission denied", "append-only",
                                                  "arrive unsealed")), sql
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET ROLE")
                cursor.execute("SELECT set_config('audit.maintenance', 'off', false)")
        assert AuditEvent.objects.count() == sealed_log + 1
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP OWNED BY {role}")
            cursor.execute(f"DROP ROLE {role}")


@pytest.mark.postgres
def test_the_applications_role_may_not_delete_or_truncate_the_log_state(sealed_log):
    role = f"audit_app_{uuid.uuid4().hex[:10]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
    try:
        call_command("audit_db_roles", "--role", role, "--apply", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SELECT p, has_table_privilege(%s, 'audit_logstate', p) FROM "
                           "unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'])"
                           " AS p", [role])
            granted = dict(cursor.fetchall())
        # The sealer reads, creates (first run) and updates the row; nothing removes it.
        assert granted == {"SELECT": True, "INSERT": True, "UPDATE": True, "DELETE": False,
                           "TRUNCATE": False}
        with connection.cursor() as cursor:
            cursor.execute(f"SET ROLE {role}")
        try:
            def delete_state():
                with connection.cursor() as cursor:
                    cursor.execute("DELETE FROM audit_logstate")

            assert "permission denied" in _refused(delete_state)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET ROLE")
        assert LogState.objects.get().size == sealed_log
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP OWNED BY {role}")
            cursor.execute(f"DROP ROLE {role}")


@pytest.mark.postgres
def test_the_role_command_prints_the_grants_without_applying_them(db, capsys):
    call_command("audit_db_roles", "--role", "broker_app")
    out = capsys.readouterr().out
    assert "REVOKE UPDATE, DELETE, TRUNCATE" in out
    assert "GRANT UPDATE (seq, entry_hash, sealed_at) ON audit_auditevent TO broker_app" in out
    assert ("REVOKE DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_logstate, audit_witnessstate"
            " FROM broker_app") in out
    assert "audit_checkpoint, audit_witnesscosignature FROM broker_app" in out


def test_the_role_command_refuses_an_odd_role_name(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("audit_db_roles", "--role", "x; DROP TABLE y")
