"""Searching for deletions owed: from a release's decisions, only the changes since the last
search, and every minute without waiting for the recipient to poll."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from governance.models import DataSubject, SubjectConsentState
from governance.services import plan_new_version, subject_consent_state_set
from tests.staff import login_verified
from transfers.models import DeletionNotice, DeletionScan, Release
from transfers.selectors import plans_with_releases
from transfers.services import deletions_detect, release_export, release_request
from transfers.services.deletions import RESCAN_MARGIN
from transfers.tasks import detect_deletions

pytestmark = pytest.mark.django_db

GRANTED = ["merchant.email", "merchant.settlement_bank_account"]
SHINHAN = ("operator", "operator:SHINHAN")


def _released(plan) -> Release:
    return release_export(release_id=release_request(plan=plan, by=SHINHAN).pk)


def _merchant(external_id: str = "M-0000004") -> DataSubject:
    return DataSubject.objects.get(kind="merchant", external_id=external_id)


def _age(merchant: DataSubject, by: dt.timedelta) -> None:
    """As if the merchant's last consent change had been stamped ``by`` earlier."""
    state = SubjectConsentState.objects.get(subject=merchant)
    SubjectConsentState.objects.filter(pk=state.pk).update(updated_at=state.updated_at - by)


def test_a_release_finished_after_a_search_is_compared_with_changes_since_its_decisions(
        approved_plan, uploaded):
    merchant = _merchant()
    subject_consent_state_set(plan=approved_plan, subject=merchant, fields_granted=GRANTED)
    _released(approved_plan)  # merchants' consented fields go out in this one
    building = release_request(plan=approved_plan, by=SHINHAN)  # decided now, written later
    later = _merchant("M-0000005")
    subject_consent_state_set(plan=approved_plan, subject=later, fields_granted=GRANTED)
    # ... (the second merchant granted after #2's decisions: #2 does not carry it)
    subject_consent_state_set(plan=approved_plan, subject=merchant, fields_granted=GRANTED,
                              withdrawn_at=timezone.now())
    assert [n.subject for n in deletions_detect(plan=approved_plan)] == [merchant]
    # Another merchant withdraws while #2 is still being written, and the search runs first.
    third = _merchant("M-0000006")
    subject_consent_state_set(plan=approved_plan, subject=third, fields_granted=GRANTED)
    Release.objects.filter(pk=building.pk).update(as_of=timezone.now())
    building.refresh_from_db()
    subject_consent_state_set(plan=approved_plan, subject=third, fields_granted=GRANTED,
                              withdrawn_at=timezone.now())
    assert deletions_detect(plan=approved_plan) == []  # #2 not ready: nothing carried yet
    # Long after that search (well past the margin), #2 is finished.
    hour = dt.timedelta(hours=1)
    _age(third, hour)
    Release.objects.filter(pk=building.pk).update(as_of=building.as_of - hour)
    release_export(release_id=building.pk)
    [notice] = deletions_detect(plan=approved_plan)
    assert (notice.subject, notice.reason, notice.fields) == (third, "withdrawn", GRANTED)


def test_each_search_reads_only_changes_since_the_previous_one_less_the_margin(
        approved_plan, uploaded):
    late, old = _merchant("M-0000004"), _merchant("M-0000005")
    for merchant in (late, old):
        subject_consent_state_set(plan=approved_plan, subject=merchant, fields_granted=GRANTED)
    release = _released(approved_plan)
    day = dt.timedelta(days=1)  # the release was decided and finished yesterday
    Release.objects.filter(pk=release.pk).update(as_of=release.as_of - day,
                                                 completed_at=release.completed_at - day)
    assert deletions_detect(plan=approved_plan) == []
    for merchant in (late, old):
        subject_consent_state_set(plan=approved_plan, subject=merchant, fields_granted=GRANTED,
                                  withdrawn_at=timezone.now())
    # Stamped just inside the margin (a transaction that committed late): still found.
    # Stamped before it: that change was there for the previous search, not read again.
    _age(late, RESCAN_MARGIN - dt.timedelta(minutes=1))
    _age(old, RESCAN_MARGIN + dt.timedelta(minutes=1))
    assert [n.subject for n in deletions_detect(plan=approved_plan)] == [late]
    assert DeletionScan.objects.get(lineage=approved_plan.lineage).scanned_at > release.as_of


def test_the_minute_task_creates_notices_without_a_poll(approved_plan, uploaded,
                                                        django_capture_on_commit_callbacks):
    merchant = _merchant()
    subject_consent_state_set(plan=approved_plan, subject=merchant, fields_granted=GRANTED)
    _released(approved_plan)
    assert detect_deletions() == 0
    subject_consent_state_set(plan=approved_plan, subject=merchant, fields_granted=GRANTED,
                              withdrawn_at=timezone.now())
    with django_capture_on_commit_callbacks() as queued:
        assert detect_deletions() == 1
    assert "transfers.tasks.deliver_deletion_webhooks" in [  # the webhook
        getattr(q, "task_name", None) for q in queued]
    assert detect_deletions() == 0
    assert DeletionNotice.objects.get().subject == merchant


def test_the_task_searches_the_newest_decided_version_of_each_plan_with_released_data(
        approved_plan, uploaded, officer):
    assert plans_with_releases() == []
    _released(approved_plan)
    assert plans_with_releases() == [approved_plan]
    plan_new_version(plan=approved_plan, by=officer)  # a draft decides nothing yet
    assert plans_with_releases() == [approved_plan]


def test_the_task_is_scheduled_every_minute():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="transfers.tasks.detect_deletions")
    assert task.enabled and task.crontab.minute == "*"


def test_what_releases_carried_is_read_from_the_groups_holding_the_asked_ids(
        approved_plan, uploaded, settings, monkeypatch):
    """Small chunks, so the release has many groups: the answer for a few subjects is the same
    as reading every group, and only the groups that hold one of them are fetched."""
    from transfers.models import ReleaseGroup
    from transfers.selectors import release_subjects, releases_carried

    settings.TRANSFERS_RELEASE_CHUNK_RECORDS = 3
    release = _released(approved_plan)
    everything = dict(release_subjects(release.pk))
    groups = ReleaseGroup.objects.filter(release=release).count()
    assert groups > 4
    asked = set(sorted(everything)[1::5])  # a few, spread out
    assert releases_carried([release.pk], asked) == {
        release.pk: {sid: everything[sid] for sid in asked}}
    assert releases_carried([release.pk], {max(everything) + 1}) == {}
    unpacked = []
    original = ReleaseGroup.unpack_ids
    monkeypatch.setattr(ReleaseGroup, "unpack_ids",
                        staticmethod(lambda packed: unpacked.append(1) or original(packed)))
    releases_carried([release.pk], {min(everything), max(everything)})  # far apart
    assert 0 < len(unpacked) < groups


def test_a_plan_whose_search_fails_does_not_stop_the_others(monkeypatch, approved_plan):
    import transfers.selectors
    import transfers.services

    searched = []

    def search(*, plan):
        searched.append(plan)
        if len(searched) == 1:
            raise ValueError("broken")
        return []

    monkeypatch.setattr(transfers.selectors, "plans_with_releases",
                        lambda: [approved_plan, approved_plan])
    monkeypatch.setattr(transfers.services, "deletions_detect", search)
    with pytest.raises(RuntimeError, match=f"plans \\[{approved_plan.pk}\\]"):
        detect_deletions()
    assert len(searched) == 2


def test_officers_see_plans_whose_deletion_search_has_not_run_for_ten_minutes(
        approved_plan, uploaded, client, officer):
    from django.urls import reverse

    from transfers.selectors import deletion_searches_overdue

    assert deletion_searches_overdue() == 0  # nothing released: nothing to search
    _released(approved_plan)
    later = timezone.now() + dt.timedelta(minutes=11)
    assert deletion_searches_overdue() == 0  # just released: the next minute's search is due
    assert deletion_searches_overdue(now=later) == 1  # released, never searched since
    detect_deletions()
    assert deletion_searches_overdue() == 0
    assert deletion_searches_overdue(now=later) == 1  # beat has stopped
    DeletionScan.objects.update(scanned_at=timezone.now() - dt.timedelta(minutes=11))
    login_verified(client, officer)
    html = client.get(reverse("dashboard")).content.decode()
    assert '<div class="card" id="review-deletion-search"><strong class="alert">1</strong>' in html


def test_the_command_runs_one_search(approved_plan, uploaded):
    from io import StringIO

    from django.core.management import call_command

    merchant = _merchant()
    subject_consent_state_set(plan=approved_plan, subject=merchant, fields_granted=GRANTED)
    _released(approved_plan)
    subject_consent_state_set(plan=approved_plan, subject=merchant, fields_granted=GRANTED,
                              withdrawn_at=timezone.now())
    out = StringIO()
    call_command("detect_deletions", stdout=out)
    assert out.getvalue().strip() == "deletion search: 1 new deletion request(s)"
