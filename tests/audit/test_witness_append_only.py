"""What the witnesses co-signed is kept like the entries (migration 0008), on SQLite and
PostgreSQL: cosignatures are append-only, a witness's state only moves forwards."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from audit.maintenance import maintenance_mode
from audit.models import Checkpoint, WitnessCosignature, WitnessState

from .conftest import record


def _refused(fn) -> str:
    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        fn()
    return str(caught.value)


@pytest.fixture
def witnessed(commission_witness):
    record(3)
    assert WitnessCosignature.objects.count() == 3
    return WitnessState.objects.get()


def test_a_cosignature_cannot_be_edited_or_deleted(witnessed):
    line = WitnessCosignature.objects.get(checkpoint__size=3).line
    assert "append-only" in _refused(
        lambda: WitnessCosignature.objects.filter(checkpoint__size=3).update(line="forged"))
    assert "append-only" in _refused(
        lambda: WitnessCosignature.objects.filter(checkpoint__size=3).delete())
    assert "append-only" in _refused(lambda: WitnessCosignature.objects.all().delete())
    assert WitnessCosignature.objects.get(checkpoint__size=3).line == line
    assert WitnessCosignature.objects.count() == 3


def test_a_witness_state_cannot_be_wound_back_deleted_or_renamed(witnessed):
    for change in ({"size": 0, "frontier": [], "root_hash": ""}, {"size": 2},
                   {"root_hash": "0" * 64}, {"frontier": ["0" * 64, "1" * 64]},
                   {"name": "other.example/witness"}, {"id": witnessed.pk + 1}):
        message = _refused(lambda c=change: WitnessState.objects.update(**c))
        assert "witness state" in message, change
    assert "witness state" in _refused(lambda: WitnessState.objects.all().delete())
    state = WitnessState.objects.get()
    assert (state.pk, state.name, state.size, state.root_hash, state.frontier) == (
        witnessed.pk, witnessed.name, 3, witnessed.root_hash, witnessed.frontier)


def test_a_witness_state_cannot_be_created_claiming_cosignatures(witnessed):
    assert "witness state" in _refused(lambda: WitnessState.objects.create(
        name="other.example/witness", size=3, root_hash=witnessed.root_hash))
    assert WitnessState.objects.count() == 1


def test_the_services_own_writes_still_pass(witnessed, commission_witness):
    # Bookkeeping at the same size, a re-sent cosignature of the same root, and moving on.
    WitnessState.objects.update(failures=4, last_error="HTTP 503", retry_at=None)
    WitnessState.objects.update(size=3, root_hash=witnessed.root_hash,
                                frontier=witnessed.frontier)
    record(2)
    state = WitnessState.objects.get()
    assert (state.size, state.failures, state.last_error) == (5, 0, "")
    assert WitnessCosignature.objects.count() == 5
    WitnessState.objects.create(name="new.example/witness")  # starts at 0


def test_maintenance_mode_lets_the_test_suite_empty_them(witnessed):
    with maintenance_mode():
        WitnessCosignature.objects.all().delete()
        WitnessState.objects.all().delete()
    assert not WitnessCosignature.objects.exists() and not WitnessState.objects.exists()
    assert Checkpoint.objects.exists()  # those stay protected: not deleted here


@pytest.mark.postgres
def test_truncate_of_the_witness_tables_is_refused_on_postgresql(witnessed):
    def truncate(table: str):
        def run():
            with connection.cursor() as cursor:
                cursor.execute(f"TRUNCATE {table}")
        return run

    assert "append-only" in _refused(truncate("audit_witnesscosignature"))
    assert "witness state" in _refused(truncate("audit_witnessstate"))
    assert WitnessCosignature.objects.count() == 3 and WitnessState.objects.count() == 1


@pytest.mark.postgres
def test_the_applications_role_holds_no_delete_or_truncate_on_the_witness_tables(witnessed):
    import uuid

    from django.core.management import call_command

    role = f"audit_app_{uuid.uuid4().hex[:10]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
    try:
        call_command("audit_db_roles", "--role", role, "--apply", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SELECT t, p, has_table_privilege(%s, t, p) FROM "
                           "unnest(array['audit_witnesscosignature', 'audit_witnessstate']) t,"
                           " unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'])"
                           " p", [role])
            granted = {(t, p) for t, p, yes in cursor.fetchall() if yes}
        assert granted == {("audit_witnesscosignature", "SELECT"),
                           ("audit_witnesscosignature", "INSERT"),
                           ("audit_witnessstate", "SELECT"), ("audit_witnessstate", "INSERT"),
                           ("audit_witnessstate", "UPDATE")}
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP OWNED BY {role}")
            cursor.execute(f"DROP ROLE {role}")
