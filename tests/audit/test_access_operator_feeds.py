"""The operator API's pages that name subjects write an access entry when they name any: the
deletion feed (the recipient sees whose released data to delete) and the unreached list (the
source sees whom its notice has not reached). An empty page names nobody and logs nothing."""

from __future__ import annotations

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from governance.models import DataSubject
from governance.services import consent_state_object
from tests.history import notified_long_ago
from tests.transfers.conftest import *  # noqa: F403  (the operators' API clients, an upload)
from tests.transfers.conftest import upload_rows
from transfers import synthetic
from transfers.services import deletions_detect, release_export, release_request

pytestmark = pytest.mark.django_db


def _access_entries():
    return list(AuditEvent.objects.filter(action__startswith="access.").order_by("id"))


def test_the_deletion_feed_logs_the_subjects_it_names(shinhan_api, approved_plan, uploaded,
                                                      incoming_operator):
    release = release_request(plan=approved_plan, by=("operator", "operator:SHINHAN"))
    release_export(release_id=release.pk)
    url = f"/api/plans/{approved_plan.pk}/deletions"
    assert shinhan_api.get(url).json()["deletions"] == []
    assert _access_entries() == []  # an empty page named nobody
    user = DataSubject.objects.get(kind="user", external_id="U-0000002")
    consent_state_object(plan=approved_plan, subject=user, objected_at=timezone.now())
    deletions_detect(plan=approved_plan)

    feed = shinhan_api.get(url).json()["deletions"]

    [entry] = _access_entries()
    assert (entry.action, entry.actor_id, entry.target_type, entry.target_id) == (
        "access.view", "operator:SHINHAN", "transfers.deletion_feed", str(approved_plan.pk))
    assert entry.details["subjects"] == [n["subject"] for n in feed] == [user.public_id]
    assert "subject.external_id" in entry.details["fields"]
    assert "U-0000002" not in str(entry.details)


def test_the_unreached_list_logs_the_subjects_it_names(kepf_api, approved_plan):
    upload_rows(approved_plan, list(synthetic.rows("user", 1, 3)))
    users = list(DataSubject.objects.filter(kind="user").order_by("id"))
    notified_long_ago(approved_plan, [users[0]])

    page = kepf_api.get(f"/api/plans/{approved_plan.pk}/notices").json()

    [entry] = _access_entries()
    assert (entry.action, entry.actor_id, entry.target_type) == (
        "access.view", "operator:KEPF", "transfers.notices_unreached")
    assert entry.details["subjects"] == [s["subject"] for s in page["subjects"]] == [
        u.public_id for u in users[1:]]


def test_an_unrelated_operator_reads_neither_list_and_nothing_is_logged(
        bizplay_api, approved_plan):
    """Bizplay, party to nothing here, asks for the plan's deletion feed and its unreached
    list: both are 404 without a subject in them, and no access entry names anyone."""
    upload_rows(approved_plan, list(synthetic.rows("user", 1, 3)))
    users = list(DataSubject.objects.filter(kind="user"))

    feed = bizplay_api.get(f"/api/plans/{approved_plan.pk}/deletions")
    unreached = bizplay_api.get(f"/api/plans/{approved_plan.pk}/notices")

    for response in (feed, unreached):
        assert (response.status_code, response.json()["error"]) == (404, "not_found")
        assert not any(u.public_id in response.content.decode() for u in users)
    assert _access_entries() == []
