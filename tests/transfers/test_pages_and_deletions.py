"""JSON pages of a release, and the deletion feed after a withdrawal or an objection."""

from __future__ import annotations

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from governance.models import DataSubject
from governance.services import subject_consent_state_set
from tests.transfers.reader import read_release_api
from transfers.models import DeletionNotice
from transfers.selectors import release_subjects
from transfers.services import deletions_detect, release_export, release_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def release(approved_plan, uploaded, incoming_operator):
    release = release_request(plan=approved_plan, by=("operator", "operator:SHINHAN"))
    return release_export(release_id=release.pk)


def test_json_pages_walk_the_same_records_as_the_encrypted_chunks(
        shinhan_api, incoming_operator, release):
    _, from_chunks = read_release_api(shinhan_api, str(release.public_id),
                                      incoming_operator.hpke_private_key)
    pages, cursor = [], None
    while True:
        params = {"limit": 6} | ({"cursor": cursor} if cursor else {})
        page = shinhan_api.get(f"/api/releases/{release.public_id}/records", **params).json()
        pages.extend(page["records"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(pages, key=lambda r: r["subject"]) == sorted(from_chunks,
                                                                key=lambda r: r["subject"])
    bad = shinhan_api.get(f"/api/releases/{release.public_id}/records", limit=5000)
    assert bad.status_code == 400


def test_a_subject_who_objects_after_release_reaches_the_feed_until_deletion_is_confirmed(
        shinhan_api, approved_plan, release):
    user = DataSubject.objects.get(kind="user", external_id="U-0000002")
    subject_consent_state_set(plan=approved_plan, subject=user, objected=True,
                              answered_at=timezone.now())
    # The feed only reads: the search (every minute, transfers.tasks) finds what is owed.
    assert shinhan_api.get(f"/api/plans/{approved_plan.pk}/deletions").json()["deletions"] == []
    assert not DeletionNotice.objects.exists()
    deletions_detect(plan=approved_plan)
    feed = shinhan_api.get(f"/api/plans/{approved_plan.pk}/deletions").json()["deletions"]
    assert len(feed) == 1
    notice = feed[0]
    assert notice["subject"] == user.public_id and notice["reason"] == "objected"
    assert notice["fields"] == ["user.certificate_balance", "user.name", "user.phone"]
    # Pages withhold what is no longer allowed.
    page = shinhan_api.get(f"/api/releases/{release.public_id}/records", limit=1000).json()
    mine = [r for r in page["records"] if r["subject"] == user.public_id]
    assert mine == [{"subject": user.public_id, "kind": "user", "external_id": "U-0000002",
                     "fields": {"user.issuance_records": [{"date": "2026-09-01",
                                                           "amount": 100000}]}}]
    assert page["withheld"] == 3
    # Polling again adds nothing; confirming closes it (twice is harmless).
    deletions_detect(plan=approved_plan)
    again = shinhan_api.get(f"/api/plans/{approved_plan.pk}/deletions").json()["deletions"]
    assert [n["id"] for n in again] == [notice["id"]]
    for _ in range(2):
        done = shinhan_api.post(f"/api/deletions/{notice['id']}/confirm")
        assert done.status_code == 200
    assert DeletionNotice.objects.get().confirmed_at is not None
    assert AuditEvent.objects.filter(action="deletion.confirmed").count() == 1


def test_a_merchant_who_withdraws_consent_after_release_is_in_the_feed_after_the_cursor(
        shinhan_api, approved_plan, uploaded, incoming_operator):
    merchant = DataSubject.objects.get(kind="merchant", external_id="M-0000004")
    granted = ["merchant.email", "merchant.settlement_bank_account"]
    subject_consent_state_set(plan=approved_plan, subject=merchant, fields_granted=granted)
    release = release_request(plan=approved_plan, by=("operator", "operator:SHINHAN"))
    release_export(release_id=release.pk)
    url = f"/api/plans/{approved_plan.pk}/deletions"
    assert shinhan_api.get(url).json()["deletions"] == []
    subject_consent_state_set(plan=approved_plan, subject=merchant, fields_granted=granted,
                              withdrawn_at=timezone.now())
    deletions_detect(plan=approved_plan)
    feed = shinhan_api.get(url).json()["deletions"]
    assert [(n["reason"], n["fields"]) for n in feed] == [("withdrawn", sorted(granted))]
    assert shinhan_api.get(url, after=feed[0]["id"]).json()["deletions"] == []


def test_a_withdrawal_made_while_a_release_is_being_built_is_owed_a_notice(
        shinhan_api, approved_plan, uploaded, incoming_operator):
    """The export decides as of the release's request: a merchant who withdraws after that,
    while the chunks are still being written, was carried and must reach the feed."""
    merchant = DataSubject.objects.get(kind="merchant", external_id="M-0000004")
    granted = ["merchant.email", "merchant.settlement_bank_account"]
    subject_consent_state_set(plan=approved_plan, subject=merchant, fields_granted=granted)
    release = release_request(plan=approved_plan, by=("operator", "operator:SHINHAN"))
    subject_consent_state_set(plan=approved_plan, subject=merchant, fields_granted=granted,
                              withdrawn_at=timezone.now())
    release = release_export(release_id=release.pk)
    carried = dict(release_subjects(release.pk))
    assert set(granted) <= set(carried[merchant.pk])  # decided as of the request
    deletions_detect(plan=approved_plan)
    feed = shinhan_api.get(f"/api/plans/{approved_plan.pk}/deletions").json()["deletions"]
    assert [(n["subject"], n["reason"], n["fields"]) for n in feed] == [
        (merchant.public_id, "withdrawn", sorted(granted))]


def test_an_unrelated_operator_reads_no_page_and_no_deletion(bizplay_api, approved_plan,
                                                            release):
    """Bizplay, party to nothing here, asks for the release's pages and the plan's deletion
    feed after a subject objected: both answer 404 without a subject in them."""
    user = DataSubject.objects.get(kind="user", external_id="U-0000002")
    subject_consent_state_set(plan=approved_plan, subject=user, objected=True,
                              answered_at=timezone.now())
    deletions_detect(plan=approved_plan)

    pages = bizplay_api.get(f"/api/releases/{release.public_id}/records", limit=6)
    feed = bizplay_api.get(f"/api/plans/{approved_plan.pk}/deletions")

    for response in (pages, feed):
        assert (response.status_code, response.json()["error"]) == (404, "not_found")
        assert user.public_id not in response.content.decode()
    assert DeletionNotice.objects.filter(subject=user).exists()  # owed to Shinhan only
