"""Hostile-input fixtures: one plan with something behind every operator endpoint, the three
operators' systems with real OAuth2 tokens, what the database holds, and the audit scan.

The world is built once per test module inside a transaction that is rolled back at the end;
every test runs in a savepoint of it (pytest-django's ``db``), so what one hostile request
changes is gone before the next one. Building it per test would cost a third of a second
each, for hundreds of cases.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from tests.transfers.conftest import ALL_SCOPES, ndjson, upload_rows
from transfers import synthetic

# The scopes each role needs, and no more: a source that could read releases, or a recipient
# that could upload, would hide a missing 404 behind the right answer for the wrong reason.
SOURCE_SCOPES = "upload"
RECIPIENT_SCOPES = "release:read release:ack"
# The unrelated operator holds every scope, so only the plan's parties can answer it, not
# the scope check: everything of the others' must be a 404.
UNRELATED_SCOPES = ALL_SCOPES

OPEN_BATCH_ID = "b1"


# --- Known failures of schemathesis items ------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """A strict xfail for tests that set ``item.known_failure`` (a reason) during setup.

    pytest's own ``xfail(strict=True)`` cannot be used on schemathesis' test items: its pytest
    plugin (4.32) asserts that a failed report carries an exception, and a strict XPASS does
    not, so the whole run stops with INTERNALERROR. Here an unexpected pass is an ordinary
    failure that says which entry to remove.
    """
    reason = getattr(item, "known_failure", None)
    if reason is None:
        return (yield)
    try:
        yield
    except Exception:  # noqa: BLE001 - any failure is the expected one
        pytest.xfail(reason)
    pytest.fail(f"[XPASS(strict)] {reason}\n-> it passes now: remove its KNOWN_FAILURES entry",
                pytrace=False)


# --- The world -----------------------------------------------------------------------------


@dataclass
class World:
    """Ids of what exists, and a bearer token per operator (``tokens["source"]``)."""

    plan_id: int
    upload_id: str  # complete, released
    open_upload_id: str  # open, with batch OPEN_BATCH_ID
    release_id: str  # ready, one chunk
    notice_id: int  # a deletion request addressed to the recipient
    manifest_sha256: str
    released_totals: dict[str, Any]  # what a matching acknowledgement signs for
    recipient_signing_key: Any  # Ed25519PrivateKey registered for the recipient
    tokens: dict[str, str]

    def ids(self) -> dict[str, Any]:
        return {"plan": self.plan_id, "upload": self.upload_id,
                "open_upload": self.open_upload_id, "release": self.release_id,
                "notice": self.notice_id, "batch": OPEN_BATCH_ID}


def _approved_plan():
    """KEPF → Shinhan, approved, with a 30-day Art. 27 notice period (as in
    tests/conftest.approved_plan, which is function-scoped)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from config.roles import ensure_role_groups
    from governance.seoul import PLAN_VALUES, seoul_catalogue_ensure, seoul_plan_rules
    from governance.services import plan_approve, plan_create, plan_submit
    from tests.conftest import _party

    ensure_role_groups()
    users = get_user_model().objects
    kim = users.create_user(username="hostile-kim", password="x", is_staff=True)
    lee = users.create_user(username="hostile-lee", password="x", is_staff=True)
    for officer in (kim, lee):
        officer.groups.add(Group.objects.get(name="privacy officer"))
    source, recipient, unrelated = _party("KEPF"), _party("SHINHAN"), _party("BIZPLAY")
    now = timezone.now()
    plan = plan_create(
        by=kim, from_operator=source.operator, to_operator=recipient.operator,
        rules=seoul_plan_rules(seoul_catalogue_ensure()),
        notice_starts_at=now, cutover_at=now + dt.timedelta(days=31),
        **PLAN_VALUES)
    plan_submit(plan=plan, by=kim)
    return plan_approve(plan=plan, by=lee), {"source": source, "recipient": recipient,
                                             "unrelated": unrelated}


def _token(party, scope: str) -> str:
    """A real client-credentials token from /o/token/, kept alive for the whole module."""
    from oauth2_provider.models import AccessToken

    from transfers.services import operator_client_create

    new = operator_client_create(operator=party.operator, by=None)
    basic = base64.b64encode(f"{new.client_id}:{new.client_secret}".encode()).decode()
    response = Client().post("/o/token/", {"grant_type": "client_credentials", "scope": scope},
                             HTTP_AUTHORIZATION=f"Basic {basic}")
    assert response.status_code == 200, response.content
    # Tokens last OAUTH_TOKEN_SECONDS (600 s); a slow machine may run a module for longer.
    AccessToken.objects.filter(application__client_id=new.client_id).update(
        expires=timezone.now() + dt.timedelta(hours=6))
    return response.json()["access_token"]


def build_world() -> World:
    from django.utils import timezone as tz

    from governance.models import DataSubject
    from governance.services import consent_state_object
    from tests.history import notified_long_ago
    from transfers.selectors import release_subjects
    from transfers.services import (
        deletions_detect,
        release_export,
        release_request,
        upload_batch_receive,
        upload_create,
    )
    from transfers.services.acknowledgements import released_totals

    plan, parties = _approved_plan()
    rows = list(synthetic.rows("merchant", 1, 3)) + list(synthetic.rows("user", 1, 3))
    upload, _ = upload_rows(plan, rows)
    # The users were reached by the notice 31 days ago: their notice fields move, and an
    # objection afterwards is a deletion the recipient owes.
    notified_long_ago(plan, DataSubject.objects.filter(kind="user"))
    release = release_request(plan=plan, by=("operator", "operator:SHINHAN"))
    release = release_export(release_id=release.pk)
    subject = DataSubject.objects.filter(id__in=dict(release_subjects(release.pk)),
                                         kind="user").first()
    consent_state_object(plan=plan, subject=subject, objected_at=tz.now())
    notice = deletions_detect(plan=plan)[0]
    by = ("operator", "operator:KEPF")
    open_upload = upload_create(plan=plan, by=by)
    upload_batch_receive(upload=open_upload, batch_id=OPEN_BATCH_ID,
                         body=ndjson(synthetic.rows("user", 100, 2)),
                         content_type="application/x-ndjson", by=by)
    tokens = {"source": _token(parties["source"], SOURCE_SCOPES),
              "recipient": _token(parties["recipient"], RECIPIENT_SCOPES),
              "unrelated": _token(parties["unrelated"], UNRELATED_SCOPES)}
    return World(plan_id=plan.pk, upload_id=str(upload.public_id),
                 open_upload_id=str(open_upload.public_id), release_id=str(release.public_id),
                 notice_id=notice.pk, manifest_sha256=release.manifest_sha256,
                 released_totals=released_totals(release),
                 recipient_signing_key=parties["recipient"].signing_private_key, tokens=tokens)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> World:
    """Built once per module in a transaction rolled back afterwards; use with ``db``."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
    try:
        with django_db_blocker.unblock():
            built = build_world()
        yield built
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def make_sender(world):
    """send(method, path, ...) -> response, as the named operator (raw body and headers).

    CSRF is enforced as in production: operators' systems send no CSRF token, so an endpoint
    that needs one is a refusal they would get too.
    """

    def send(method: str, path: str, *, body: bytes = b"", content_type: str | None = None,
             headers: dict | None = None, environ: dict | None = None, who: str = "source"):
        extra = {}
        if who != "anonymous":
            extra["HTTP_AUTHORIZATION"] = f"Bearer {world.tokens[who]}"
        for name, value in (headers or {}).items():
            extra["HTTP_" + name.upper().replace("-", "_")] = value
        extra.update(environ or {})
        return Client(enforce_csrf_checks=True).generic(
            method, path, data=body, content_type="" if content_type is None else content_type,
            **extra)

    return send


# --- What the database holds ---------------------------------------------------------------


def stored_counts() -> dict[str, int]:
    """Rows of everything an upload or a release request could leave behind."""
    from governance.models import DataSubject
    from transfers.models import Acknowledgement, Record, RecordBlock, Release, Upload, UploadBatch

    counts = {model.__name__: model.objects.count()
              for model in (Upload, UploadBatch, Record, RecordBlock, DataSubject, Release,
                            Acknowledgement)}
    counts["Upload complete"] = Upload.objects.filter(status=Upload.Status.COMPLETE).count()
    return counts


def last_audit_id() -> int:
    from audit.models import AuditEvent

    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _strings(value: Any, path: str):
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path} key", str(key)
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")
    elif value is not None:
        yield path, str(value)


def personal_values_in_audit(after_id: int) -> list[str]:
    """Where an audit event written after ``after_id`` holds something shaped like a phone,
    business or resident number or an e-mail address (audit.services' own patterns)."""
    from audit.models import AuditEvent
    from audit.services import _PERSONAL_VALUES

    found = []
    for event in AuditEvent.objects.filter(id__gt=after_id).order_by("id"):
        fields = [("actor_id", event.actor_id), ("target_id", event.target_id),
                  ("request_id", event.request_id), *_strings(event.details, "details")]
        for where, text in fields:
            for label, pattern in _PERSONAL_VALUES:
                if pattern.search(text):
                    found.append(f"{event.action} #{event.pk} {where} looks like {label}: "
                                 f"{text[:80]!r}")
    return found


# --- The schema ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def openapi_schema() -> dict:
    """The live OpenAPI document, as operators' generated clients read it."""
    response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200, response.content[:500]
    return response.json()


def documented_statuses(schema: dict, method: str, path: str) -> set[int]:
    operation = schema["paths"][path][method.lower()]
    return {int(code) for code in operation["responses"] if code.isdigit()}
