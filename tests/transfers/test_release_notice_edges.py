"""A bulk release decides the notice of each subject who answered nothing as the policy does,
to the microsecond at both edges of the notice period (it reads those subjects per notice
stage, not row by row)."""

from __future__ import annotations

import datetime as dt

import pytest

from audit.signing import service_public_key_bytes
from governance.models import DataSubject
from governance.selectors import plan_decisions
from governance.services import Evidence, notice_evidence_record, subject_consent_state_set
from tests.history import notified_long_ago
from tests.transfers.conftest import upload_rows
from tests.transfers.reader import read_release_dir
from transfers import synthetic
from transfers.services import release_export, release_path, release_request

pytestmark = pytest.mark.django_db

TICK = dt.timedelta(microseconds=1)


def test_a_release_moves_a_notice_field_exactly_when_the_subjects_own_period_has_run(
        approved_plan, incoming_operator):
    upload_rows(approved_plan, list(synthetic.rows("user", 1, 6)))
    notified_long_ago(approved_plan, subjects=[], days=40)  # approved 41 days ago
    users = list(DataSubject.objects.filter(kind="user").order_by("id"))
    release = release_request(plan=approved_plan, by=("operator", "operator:SHINHAN"))
    cut = release.as_of - dt.timedelta(days=approved_plan.notice_period_days)
    reached_at = {users[0]: cut, users[1]: cut + TICK, users[2]: release.as_of,
                  users[3]: release.as_of + TICK, users[5]: cut - dt.timedelta(days=1)}
    notice_evidence_record(plan=approved_plan, by=None, evidence=[
        Evidence(user, "lms", at, f"sms-{user.pk}") for user, at in reached_at.items()])
    # Reached and answered: decided from its own row, like every subject with an answer.
    subject_consent_state_set(plan=approved_plan, subject=users[5], objected=True)

    release = release_export(release_id=release.pk)
    _, records = read_release_dir(release_path(release), incoming_operator.hpke_private_key,
                                  service_public_key_bytes())

    carried = {r["external_id"]: set(r["fields"]) for r in records}
    moved_on_notice = {u.external_id for u in users if "user.name" in carried[u.external_id]}
    assert moved_on_notice == {users[0].external_id}
    decided = {ref.external_id: {k for k, d in decisions.items() if d.allowed}
               for ref, decisions in plan_decisions(approved_plan, now=release.as_of)}
    assert carried == decided
