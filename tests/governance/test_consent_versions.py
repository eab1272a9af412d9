"""Consent outlives a new plan version that changes nothing its notice said of a field."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from governance.policy import Reason
from governance.selectors import plan_consent_carry, plan_decisions
from governance.services import (
    consent_state_answer,
    consent_state_object,
    consent_state_withdraw,
    plan_approve,
    plan_new_version,
    plan_submit,
    plan_update,
)

pytestmark = pytest.mark.django_db

ACCOUNT, EMAIL = "merchant.settlement_bank_account", "merchant.email"


def _decisions(plan, subject):
    [(_, decisions)] = plan_decisions(plan, now=timezone.now(), subject_ids=[subject.pk])
    return decisions


def _next_version(plan, officer, second_officer, **changes):
    new = plan_new_version(plan=plan, by=officer)
    if changes:
        plan_update(plan=new, by=officer, **changes)
    plan_submit(plan=new, by=officer)
    return new


def test_a_postponed_cutover_keeps_every_consent_given_to_the_earlier_version(
        approved_plan, officer, second_officer, merchant):
    consent_state_answer(plan=approved_plan, subject=merchant, granted=[ACCOUNT],
                         declined=[EMAIL])
    later = approved_plan.cutover_at + dt.timedelta(days=14)
    v2 = _next_version(approved_plan, officer, second_officer, cutover_at=later)
    carry = {row.field_key: row for row in plan_consent_carry(v2)}
    assert carry[ACCOUNT].kept and carry[EMAIL].kept and carry[ACCOUNT].changed == ()
    plan_approve(plan=v2, by=second_officer)

    decisions = _decisions(v2, merchant)
    assert decisions[ACCOUNT].reason == Reason.ALLOWED_CONSENT
    assert decisions[EMAIL].reason == Reason.DENIED_CONSENT_DECLINED


def test_a_changed_purpose_voids_the_earlier_consent_and_says_what_changed(
        approved_plan, officer, second_officer, merchant):
    consent_state_answer(plan=approved_plan, subject=merchant, granted=[ACCOUNT])
    v2 = _next_version(approved_plan, officer, second_officer, purpose="다른 이용 목적")
    carry = {row.field_key: row for row in plan_consent_carry(v2)}
    assert not carry[ACCOUNT].kept and carry[ACCOUNT].changed == ("purpose",)
    assert carry[ACCOUNT].changed_labels == ["이용 목적"]
    plan_approve(plan=v2, by=second_officer)
    assert _decisions(v2, merchant)[ACCOUNT].reason == Reason.DENIED_CONSENT_STALE_VERSION


def test_a_withdrawal_of_the_earlier_consent_still_counts_under_the_new_version(
        approved_plan, officer, second_officer, merchant):
    past = timezone.now() - dt.timedelta(minutes=1)
    consent_state_answer(plan=approved_plan, subject=merchant, granted=[ACCOUNT])
    consent_state_withdraw(plan=approved_plan, subject=merchant, withdrawn_at=past)
    v2 = _next_version(approved_plan, officer, second_officer, title="제목만 바뀜")
    plan_approve(plan=v2, by=second_officer)
    assert _decisions(v2, merchant)[ACCOUNT].reason == Reason.DENIED_CONSENT_WITHDRAWN


def test_an_item_turned_required_voids_only_its_own_consent(
        approved_plan, officer, second_officer, merchant, field_catalogue):
    from governance.services import plan_rule_set

    consent_state_answer(plan=approved_plan, subject=merchant, granted=[ACCOUNT, EMAIL])
    v2 = plan_new_version(plan=approved_plan, by=officer)
    plan_rule_set(plan=v2, field=field_catalogue[EMAIL], basis="consent", required=True,
                  by=officer)
    plan_submit(plan=v2, by=officer)
    carry = {row.field_key: row for row in plan_consent_carry(v2)}
    assert (carry[EMAIL].kept, carry[EMAIL].changed) == (False, ("required",))
    assert carry[ACCOUNT].kept
    plan_approve(plan=v2, by=second_officer)
    decisions = _decisions(v2, merchant)
    assert decisions[EMAIL].reason == Reason.DENIED_CONSENT_STALE_VERSION
    assert decisions[ACCOUNT].reason == Reason.ALLOWED_CONSENT


def test_an_answer_to_the_new_version_replaces_the_earlier_one(
        approved_plan, officer, second_officer, merchant):
    consent_state_answer(plan=approved_plan, subject=merchant, granted=[ACCOUNT])
    v2 = _next_version(approved_plan, officer, second_officer)
    plan_approve(plan=v2, by=second_officer)
    consent_state_answer(plan=v2, subject=merchant, declined=[ACCOUNT])
    assert _decisions(v2, merchant)[ACCOUNT].reason == Reason.DENIED_CONSENT_DECLINED


def test_a_row_for_the_new_version_that_says_nothing_of_a_field_keeps_its_older_consent(
        approved_plan, officer, second_officer, user):
    history = "user.purchase_history"
    consent_state_answer(plan=approved_plan, subject=user, granted=[history])
    v2 = _next_version(approved_plan, officer, second_officer)
    plan_approve(plan=v2, by=second_officer)
    consent_state_object(plan=v2, subject=user)  # an Art. 27 objection
    decisions = _decisions(v2, user)
    assert decisions[history].reason == Reason.ALLOWED_CONSENT
    assert decisions["user.phone"].reason == Reason.DENIED_OBJECTED
    consent_state_answer(plan=v2, subject=user, declined=[history])  # the objection stays
    assert _decisions(v2, user)[history].reason == Reason.DENIED_CONSENT_DECLINED
