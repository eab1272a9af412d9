"""consent.bulk.link_request_joined, the consent page's link query, holds its contract (the
last section of consent/bulk.py) on the backend under test: the instances it builds hold
exactly what the ORM loads for the same rows, in and out of a transaction; on PostgreSQL,
outside a transaction, it prepares once per connection, reuses the statement and survives
its loss."""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from consent import bulk
from consent.models import Campaign, ConsentLink, ConsentRequest
from consent.tokens import token_hash
from governance.models import SubjectConsentState

# What the contract says is loaded; every other column is deferred.
REQUEST_LOADED = {"id", "public_id", "status", "opened_at", "expires_at", "locked_until",
                  "campaign_id", "subject_id"}
CAMPAIGN_LOADED = {"id", "status", "items", "plan_id", "subject_kind"}
SUBJECT_LOADED = {"id", "kind", "public_id"}
STATE_LOADED = {"id", "plan_id", "subject_id", "fields_granted", "fields_declined", "objected",
                "withdrawn_at"}


def _joined(token: str, *, now: dt.datetime | None = None) -> ConsentRequest | None:
    return bulk.link_request_joined(token_hash=token_hash(token), now=now or timezone.now())


def _statements_run(captured: CaptureQueriesContext) -> list[str]:
    """The first word of each statement the connection ran (PREPARE, EXECUTE, SELECT...)."""
    return [query["sql"].split()[0].upper() for query in captured.captured_queries]


def _prepared_here() -> list[int]:
    """For the link statement on this session: [how many times it was executed], or []."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT generic_plans + custom_plans FROM pg_prepared_statements"
                       " WHERE name = %s", [bulk.link_statement_name()])
        return [count for (count,) in cursor.fetchall()]


def _assert_loaded_as_the_orm_loads(instance, orm, loaded: set[str]) -> None:
    """``instance`` has exactly ``loaded`` of its columns loaded (the rest deferred), each
    equal to the ORM's value for the same row and of the same type."""
    columns = {field.attname for field in type(orm)._meta.concrete_fields}
    assert columns - instance.get_deferred_fields() == loaded
    assert type(instance) is type(orm) and instance.pk == orm.pk
    assert not instance._state.adding and instance._state.db == orm._state.db
    for name in sorted(loaded):
        mine, theirs = instance.__dict__[name], getattr(orm, name)  # __dict__: no deferred read
        assert (type(mine), mine) == (type(theirs), theirs), name
        if isinstance(theirs, dt.datetime):
            assert mine.utcoffset() == theirs.utcoffset(), name


def _fill_every_loaded_column(link, request, *, with_state: bool) -> None:
    """Non-default values in the columns the query loads (so a conversion slip shows)."""
    now = timezone.now()
    ConsentRequest.objects.filter(pk=request.pk).update(
        opened_at=now - dt.timedelta(minutes=3), locked_until=now + dt.timedelta(minutes=5))
    if with_state:
        ConsentLink.objects.filter(pk=link.pk).update(via_code=True)
        campaign = request.campaign
        SubjectConsentState.objects.create(
            plan_id=campaign.plan_id, subject_id=request.subject_id,
            fields_granted=campaign.items[:1], fields_declined=campaign.items[1:],
            objected=True, answered_at=now - dt.timedelta(hours=2),
            withdrawn_at=now - dt.timedelta(hours=1), notice_hash="0" * 64)


@pytest.mark.django_db(transaction=True)  # outside a transaction as well as inside one
@pytest.mark.parametrize("in_transaction", [False, True], ids=["autocommit", "atomic"])
@pytest.mark.parametrize("with_state", [False, True], ids=["no-state", "state"])
def test_the_instances_hold_exactly_what_the_orm_loads_for_the_same_rows(
        merchant_link, merchant_request, in_transaction, with_state,
        django_assert_num_queries):
    _fill_every_loaded_column(merchant_link.link, merchant_request, with_state=with_state)
    if settings.IS_POSTGRES:
        connection.close()  # a fresh session: nothing prepared yet
    outside = contextlib.nullcontext() if not in_transaction else transaction.atomic()

    with outside, CaptureQueriesContext(connection) as captured:
        request = _joined(merchant_link.token)

    prepares = settings.IS_POSTGRES and not in_transaction
    assert _statements_run(captured) == (["PREPARE", "EXECUTE"] if prepares else ["SELECT"])
    orm = ConsentRequest.objects.select_related("campaign", "subject").get(pk=merchant_request.pk)
    state = SubjectConsentState.objects.filter(plan_id=orm.campaign.plan_id,
                                               subject_id=orm.subject_id).first()
    with django_assert_num_queries(0):  # everything below was loaded by the one query
        _assert_loaded_as_the_orm_loads(request, orm, REQUEST_LOADED)
        _assert_loaded_as_the_orm_loads(request.campaign, orm.campaign, CAMPAIGN_LOADED)
        _assert_loaded_as_the_orm_loads(request.subject, orm.subject, SUBJECT_LOADED)
        if with_state:
            _assert_loaded_as_the_orm_loads(request.consent_state, state, STATE_LOADED)
        else:
            assert state is None and request.consent_state is None
    stored_via_code = ConsentLink.objects.get(pk=merchant_link.link.pk).via_code
    assert request.via_code is stored_via_code is with_state  # the ORM's value, a bool


def test_a_column_it_does_not_select_is_read_on_access_never_stale(
        merchant_link, merchant_request, django_assert_num_queries):
    request = _joined(merchant_link.token)
    ConsentRequest.objects.filter(pk=merchant_request.pk).update(reminders_sent=3)
    Campaign.objects.filter(pk=merchant_request.campaign_id).update(name="renamed since")

    with django_assert_num_queries(1):
        assert request.reminders_sent == 3
    with django_assert_num_queries(1):
        assert request.campaign.name == "renamed since"
    with django_assert_num_queries(1):
        assert request.subject.external_id == merchant_request.subject.external_id


def test_only_a_live_link_is_found(merchant_link, merchant_request):
    assert _joined(merchant_link.token).pk == merchant_request.pk
    assert _joined(secrets.token_urlsafe(16)) is None
    assert _joined(merchant_link.token, now=merchant_link.link.expires_at) is None  # expired
    ConsentLink.objects.filter(pk=merchant_link.link.pk).update(revoked_at=timezone.now())
    assert _joined(merchant_link.token) is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # outside a transaction, where it prepares
def test_the_prepared_statement_survives_and_is_reused_on_the_next_call(
        merchant_link, merchant_request):
    connection.close()  # a fresh session: nothing prepared yet
    with CaptureQueriesContext(connection) as first:
        assert _joined(merchant_link.token).pk == merchant_request.pk
    assert _statements_run(first) == ["PREPARE", "EXECUTE"]
    assert _prepared_here() == [1]

    with CaptureQueriesContext(connection) as second:
        assert _joined(merchant_link.token).pk == merchant_request.pk
        assert _joined(secrets.token_urlsafe(16)) is None  # no live link: no row, same statement
    assert _statements_run(second) == ["EXECUTE", "EXECUTE"]
    assert _prepared_here() == [3]

    with transaction.atomic(), CaptureQueriesContext(connection) as inside:
        assert _joined(merchant_link.token).pk == merchant_request.pk
    assert _statements_run(inside) == ["SELECT"]  # a transaction's statements stay plain
    assert _prepared_here() == [3]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_dropped_statement_falls_back_to_the_plain_query_and_is_prepared_again(
        merchant_link, merchant_request):
    assert _joined(merchant_link.token).pk == merchant_request.pk
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as a connection pooler might

    with CaptureQueriesContext(connection) as dropped:
        assert _joined(merchant_link.token).pk == merchant_request.pk
    # refused, the name dropped (nothing left to drop), answered by the plain statement
    assert _statements_run(dropped) == ["EXECUTE", "DEALLOCATE", "SELECT"]
    assert _prepared_here() == []

    with CaptureQueriesContext(connection) as again:
        assert _joined(merchant_link.token).pk == merchant_request.pk
    assert _statements_run(again) == ["PREPARE", "EXECUTE"]
    assert _prepared_here() == [1]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_statement_prepared_by_a_session_it_lost_track_of_is_dropped_and_prepared_again(
        merchant_link, merchant_request):
    assert _joined(merchant_link.token).pk == merchant_request.pk
    bulk._prepared_on.discard(connection.connection)  # as after a pooler's session swap

    with CaptureQueriesContext(connection) as clash:
        assert _joined(merchant_link.token).pk == merchant_request.pk
    assert _statements_run(clash) == ["PREPARE", "DEALLOCATE", "SELECT"]  # "already exists"
    assert _prepared_here() == []

    with CaptureQueriesContext(connection) as again:
        assert _joined(merchant_link.token).pk == merchant_request.pk
    assert _statements_run(again) == ["PREPARE", "EXECUTE"]
    assert _prepared_here() == [1]
