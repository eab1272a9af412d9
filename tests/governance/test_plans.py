"""Transfer plans in the service layer: the two-person rule, freezing and versions."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from governance.models import TransferPlan
from governance.policy import Reason
from governance.selectors import plan_decisions
from governance.seoul import PLAN_VALUES, seoul_plan_rules
from governance.services import (
    GovernanceError,
    InvalidTransition,
    PlanFrozen,
    TwoPersonRuleViolation,
    consent_state_answer,
    consent_state_object,
    plan_approve,
    plan_create,
    plan_new_version,
    plan_rule_set,
    plan_submit,
    plan_update,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft_plan(officer, outgoing_operator, incoming_operator, field_catalogue):
    return plan_create(by=officer, from_operator=outgoing_operator.operator,
                       to_operator=incoming_operator.operator,
                       rules=seoul_plan_rules(field_catalogue), **PLAN_VALUES)


def test_the_officer_who_submitted_cannot_approve_their_own_plan(draft_plan, officer):
    plan_submit(plan=draft_plan, by=officer)
    with pytest.raises(TwoPersonRuleViolation):
        plan_approve(plan=draft_plan, by=officer)
    draft_plan.refresh_from_db()
    assert draft_plan.status == TransferPlan.Status.SUBMITTED
    assert draft_plan.approved_by is None
    assert not AuditEvent.objects.filter(action="plan.approved").exists()


def test_a_second_officer_approves_and_it_is_audited(draft_plan, officer, second_officer):
    plan_submit(plan=draft_plan, by=officer)
    plan = plan_approve(plan=draft_plan, by=second_officer)
    assert plan.status == TransferPlan.Status.APPROVED
    assert (plan.submitted_by, plan.approved_by) == (officer, second_officer)
    event = AuditEvent.objects.get(action="plan.approved")
    assert event.actor_id == f"user:{second_officer.pk}"
    assert event.target_id == str(plan.pk)


def test_the_system_cannot_approve_and_a_draft_cannot_be_approved(draft_plan, second_officer):
    with pytest.raises(TwoPersonRuleViolation):
        plan_approve(plan=draft_plan, by=None)
    with pytest.raises(InvalidTransition):
        plan_approve(plan=draft_plan, by=second_officer)


def test_an_approved_plan_is_frozen(approved_plan, officer, field_catalogue):
    # The message names the plan with the particle its version number takes ("v1": 일 + 은).
    with pytest.raises(PlanFrozen, match="^" + re.escape(f"'{approved_plan}'은 승인됨")):
        plan_update(plan=approved_plan, by=officer, purpose="다른 목적")
    with pytest.raises(PlanFrozen):
        plan_rule_set(plan=approved_plan, field=field_catalogue["merchant.email"],
                      basis="entrustment_return", by=officer)
    approved_plan.refresh_from_db()
    assert approved_plan.purpose == PLAN_VALUES["purpose"]


def test_a_new_version_needs_approval_and_makes_earlier_consent_stale(
        approved_plan, officer, second_officer, merchant):
    consent_state_answer(plan=approved_plan, subject=merchant,
                         granted=["merchant.settlement_bank_account"])
    v2 = plan_new_version(plan=approved_plan, by=officer)
    assert (v2.version, v2.status, v2.lineage) == (2, "draft", approved_plan.lineage)
    assert v2.rules.count() == approved_plan.rules.count()
    with pytest.raises(GovernanceError):
        plan_new_version(plan=approved_plan, by=officer)  # one pending version at a time
    plan_update(plan=v2, by=officer, retention="1년")
    plan_submit(plan=v2, by=officer)
    plan_approve(plan=v2, by=second_officer)
    approved_plan.refresh_from_db()
    assert approved_plan.status == TransferPlan.Status.SUPERSEDED

    [(_, decisions)] = plan_decisions(v2, now=timezone.now(), subject_ids=[merchant.pk])
    assert decisions["merchant.settlement_bank_account"].reason == \
        Reason.DENIED_CONSENT_STALE_VERSION
    [(_, old)] = plan_decisions(approved_plan, now=timezone.now(), subject_ids=[merchant.pk])
    assert old["merchant.settlement_bank_account"].reason == Reason.DENIED_PLAN_NOT_ACTIVE

    consent_state_answer(plan=v2, subject=merchant, granted=["merchant.settlement_bank_account"])
    [(_, decisions)] = plan_decisions(v2, now=timezone.now(), subject_ids=[merchant.pk])
    assert decisions["merchant.settlement_bank_account"].reason == Reason.ALLOWED_CONSENT


def test_an_objection_to_an_earlier_version_still_counts(approved_plan, officer,
                                                        second_officer, user):
    consent_state_object(plan=approved_plan, subject=user)
    v2 = plan_new_version(plan=approved_plan, by=officer)
    plan_submit(plan=v2, by=officer)
    plan_approve(plan=v2, by=second_officer)
    [(_, decisions)] = plan_decisions(v2, now=timezone.now(), subject_ids=[user.pk])
    assert decisions["user.phone"].reason == Reason.DENIED_OBJECTED


def test_consent_state_is_refused_for_a_draft_or_for_fields_outside_the_plan(
        draft_plan, approved_plan, merchant):
    with pytest.raises(GovernanceError):
        consent_state_answer(plan=draft_plan, subject=merchant, granted=["merchant.email"])
    with pytest.raises(GovernanceError):
        consent_state_answer(plan=approved_plan, subject=merchant, granted=["user.phone"])


def test_a_staff_member_who_is_not_a_privacy_officer_cannot_approve(draft_plan, officer,
                                                                    commission_reviewer):
    plan_submit(plan=draft_plan, by=officer)
    with pytest.raises(TwoPersonRuleViolation):
        plan_approve(plan=draft_plan, by=commission_reviewer)
    draft_plan.refresh_from_db()
    assert draft_plan.status == TransferPlan.Status.SUBMITTED
