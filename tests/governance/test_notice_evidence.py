"""Evidence that the Art. 27 notice reached a subject: what counts, what is refused, and the
plan schedule that cannot pretend notices were sent."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from governance.models import NoticeEvidence, SubjectNotice
from governance.services import (
    Evidence,
    GovernanceError,
    notice_evidence_record,
    plan_approve,
    plan_new_version,
    plan_submit,
    plan_update,
    subject_notified_at,
)
from tests.history import notified_long_ago

pytestmark = pytest.mark.django_db


def _ago(**kwargs) -> dt.datetime:
    return timezone.now() - dt.timedelta(**kwargs)


def test_the_earliest_evidence_starts_the_subjects_notice_period(approved_plan, user):
    notified_long_ago(approved_plan, [], days=10)  # approved 11 days ago
    notice_evidence_record(plan=approved_plan, by=None, evidence=[
        Evidence(user, "link", _ago(days=2), "req-1")])
    notice_evidence_record(plan=approved_plan, by=("operator", "operator:KEPF"), evidence=[
        Evidence(user, "operator", _ago(days=5), "nonce-1")])
    notice_evidence_record(plan=approved_plan, by=None, evidence=[
        Evidence(user, "lms", _ago(days=1), "SM1")])
    notice = SubjectNotice.objects.get(lineage=approved_plan.lineage, subject=user)
    assert notice.channel == "operator"
    assert subject_notified_at(plan=approved_plan, subject=user) == notice.notified_at
    assert NoticeEvidence.objects.filter(subject=user).count() == 3
    events = AuditEvent.objects.filter(action="notice.evidence_recorded")
    assert sorted(e.details["channel"] for e in events) == ["link", "lms", "operator"]
    assert all(e.details["subject"] == user.public_id for e in events)


def test_the_same_proof_twice_is_one_piece_of_evidence(approved_plan, user):
    item = Evidence(user, "lms", timezone.now(), "SM-retried")
    first = notice_evidence_record(plan=approved_plan, by=None, evidence=[item])
    again = notice_evidence_record(plan=approved_plan, by=None, evidence=[item])
    assert first[0].pk == again[0].pk
    assert AuditEvent.objects.filter(action="notice.evidence_recorded").count() == 1


@pytest.mark.parametrize(("when", "message"), [
    (dict(minutes=-30), "in the future"),
    (dict(days=3), "before the plan was approved"),
])
def test_it_refuses_evidence_dated_where_no_notice_could_have_reached_anyone(
        approved_plan, user, when, message):
    with pytest.raises(GovernanceError, match=message):
        notice_evidence_record(plan=approved_plan, by=None, evidence=[
            Evidence(user, "operator", _ago(**when), "nonce")])
    assert not NoticeEvidence.objects.exists() and not SubjectNotice.objects.exists()


def test_a_batch_with_one_bad_piece_stores_nothing(approved_plan, user, merchant):
    with pytest.raises(GovernanceError, match="evidence #2"):
        notice_evidence_record(plan=approved_plan, by=None, evidence=[
            Evidence(user, "lms", timezone.now(), "ok"),
            Evidence(merchant, "carrier-pigeon", timezone.now(), "bad")])
    assert not NoticeEvidence.objects.exists()


def test_a_phone_notice_needs_an_officer_and_a_reason(approved_plan, user, officer):
    now = timezone.now()
    with pytest.raises(GovernanceError, match="officer"):
        notice_evidence_record(plan=approved_plan, by=None,
                               evidence=[Evidence(user, "phone", now, "call-1", "called")])
    with pytest.raises(GovernanceError, match="reason"):
        notice_evidence_record(plan=approved_plan, by=officer,
                               evidence=[Evidence(user, "phone", now, "call-1", " ")])
    (piece,) = notice_evidence_record(plan=approved_plan, by=officer, evidence=[
        Evidence(user, "phone", now, "call-1", "이용자 요청으로 전화 안내")])
    assert piece.recorded_by == f"user:{officer.pk}" and piece.reason


def test_it_refuses_a_subject_of_another_operator(approved_plan, unrelated_operator):
    from governance.services import subjects_upsert

    ids = subjects_upsert(operator=unrelated_operator.operator, kind="user", by=None,
                          rows=[{"external_id": "X-1"}]).ids
    from governance.models import DataSubject

    stranger = DataSubject.objects.get(pk=ids["X-1"])
    with pytest.raises(GovernanceError, match="not held by"):
        notice_evidence_record(plan=approved_plan, by=None, evidence=[
            Evidence(stranger, "lms", timezone.now(), "SM2")])


def test_a_back_dated_notice_start_is_refused_at_approval(
        officer, second_officer, outgoing_operator, incoming_operator, field_catalogue):
    from governance.seoul import PLAN_VALUES, seoul_plan_rules
    from governance.services import plan_create

    plan = plan_create(by=officer, from_operator=outgoing_operator.operator,
                       to_operator=incoming_operator.operator,
                       rules=seoul_plan_rules(field_catalogue), notice_starts_at=_ago(days=31),
                       **PLAN_VALUES)
    plan_submit(plan=plan, by=officer)
    with pytest.raises(GovernanceError, match="back-dated"):
        plan_approve(plan=plan, by=second_officer)
    plan.refresh_from_db()
    assert plan.status == "submitted"


def test_a_cut_over_before_the_notice_period_can_have_run_is_refused_at_approval(
        officer, second_officer, outgoing_operator, incoming_operator, field_catalogue):
    from governance.models import TransferPlan
    from governance.seoul import PLAN_VALUES, seoul_plan_rules
    from governance.services import plan_create

    now = timezone.now()
    plan = plan_create(by=officer, from_operator=outgoing_operator.operator,
                       to_operator=incoming_operator.operator,
                       rules=seoul_plan_rules(field_catalogue), notice_starts_at=now,
                       cutover_at=now + dt.timedelta(days=7), **PLAN_VALUES)
    plan_submit(plan=plan, by=officer)
    with pytest.raises(GovernanceError, match="cut-over cannot come before"):
        plan_approve(plan=plan, by=second_officer)
    plan.refresh_from_db()
    assert plan.status == "submitted"
    TransferPlan.objects.filter(pk=plan.pk).update(cutover_at=now + dt.timedelta(days=30))
    assert plan_approve(plan=plan, by=second_officer).status == "approved"


def test_a_new_version_keeps_its_notice_start_but_may_not_shorten_the_period(
        approved_plan, officer, second_officer):
    from governance.models import TransferPlan

    TransferPlan.objects.filter(pk=approved_plan.pk).update(notice_starts_at=_ago(days=3))
    approved_plan.refresh_from_db()
    shorter = plan_new_version(plan=approved_plan, by=officer)
    plan_update(plan=shorter, by=officer, notice_period_days=14)
    plan_submit(plan=shorter, by=officer)
    with pytest.raises(GovernanceError, match="shorten"):
        plan_approve(plan=shorter, by=second_officer)
    longer = TransferPlan.objects.get(pk=shorter.pk)
    TransferPlan.objects.filter(pk=longer.pk).update(status="draft", notice_period_days=45,
                                                     cutover_at=_ago(days=-60))
    longer.refresh_from_db()
    plan_submit(plan=longer, by=officer)
    assert plan_approve(plan=longer, by=second_officer).status == "approved"
