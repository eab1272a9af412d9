"""Each act of a subject changes its consent state by its own service, and only what it says."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from governance.models import SubjectConsentState, TransferPlan
from governance.services import (
    GovernanceError,
    consent_state_answer,
    consent_state_early_request,
    consent_state_early_withdraw,
    consent_state_object,
    consent_state_withdraw,
)

pytestmark = pytest.mark.django_db

ACCOUNT, EMAIL = "merchant.settlement_bank_account", "merchant.email"


def _stored(plan, subject) -> SubjectConsentState:
    return SubjectConsentState.objects.get(plan=plan, subject=subject)


def test_an_answer_replaces_the_earlier_one_and_keeps_an_objection_and_an_early_request(
        approved_plan, merchant):
    consent_state_early_request(plan=approved_plan, subject=merchant)
    consent_state_object(plan=approved_plan, subject=merchant)
    consent_state_answer(plan=approved_plan, subject=merchant, granted=[ACCOUNT, EMAIL],
                         notice_hash="a" * 64)
    state = consent_state_answer(plan=approved_plan, subject=merchant, declined=[EMAIL])
    assert state == _stored(approved_plan, merchant)
    assert (state.fields_granted, state.fields_declined) == ([], [EMAIL])
    assert state.objected and state.early_requested_at is not None
    assert state.notice_hash == "a" * 64  # no notice named: the stored one stays


def test_a_partial_answer_decides_only_what_it_names(approved_plan, merchant):
    consent_state_answer(plan=approved_plan, subject=merchant, granted=[ACCOUNT],
                         declined=[EMAIL])
    state = consent_state_answer(plan=approved_plan, subject=merchant, granted=[EMAIL],
                                 partial=True)
    assert (state.fields_granted, state.fields_declined) == (sorted([ACCOUNT, EMAIL]), [])


def test_a_withdrawal_declines_everything_granted_and_a_new_answer_clears_it(
        approved_plan, merchant):
    later = timezone.now() + dt.timedelta(days=365)
    consent_state_answer(plan=approved_plan, subject=merchant, granted=[ACCOUNT],
                         expires_at=later)
    at = timezone.now() - dt.timedelta(minutes=1)
    state = consent_state_withdraw(plan=approved_plan, subject=merchant, withdrawn_at=at)
    assert (state.fields_granted, state.fields_declined) == ([], [ACCOUNT])
    assert (state.withdrawn_at, state.expires_at) == (at, later)
    state = consent_state_answer(plan=approved_plan, subject=merchant, granted=[ACCOUNT])
    assert _stored(approved_plan, merchant).withdrawn_at is None
    assert state.fields_granted == [ACCOUNT]


def test_an_objection_keeps_the_answers_and_the_first_answer_time(approved_plan, merchant):
    first = timezone.now() - dt.timedelta(days=1)
    consent_state_answer(plan=approved_plan, subject=merchant, granted=[ACCOUNT],
                         answered_at=first)
    state = consent_state_object(plan=approved_plan, subject=merchant)
    assert state.objected and state.fields_granted == [ACCOUNT]
    assert _stored(approved_plan, merchant).answered_at == first


def test_an_early_request_is_taken_back_without_touching_the_rest(approved_plan, merchant):
    consent_state_answer(plan=approved_plan, subject=merchant, granted=[ACCOUNT])
    consent_state_early_request(plan=approved_plan, subject=merchant)
    state = consent_state_early_withdraw(plan=approved_plan, subject=merchant)
    assert state.early_requested_at is None and state.fields_granted == [ACCOUNT]


def test_it_refuses_fields_outside_the_plan_or_both_granted_and_declined(approved_plan,
                                                                        merchant):
    with pytest.raises(GovernanceError):
        consent_state_answer(plan=approved_plan, subject=merchant, granted=["user.phone"])
    with pytest.raises(GovernanceError):
        consent_state_answer(plan=approved_plan, subject=merchant, granted=[ACCOUNT],
                             declined=[ACCOUNT])
    assert not SubjectConsentState.objects.exists()


def _with_status(plan: TransferPlan, status: str) -> TransferPlan:
    TransferPlan.objects.filter(pk=plan.pk).update(status=status)
    plan.refresh_from_db()
    return plan


def test_it_refuses_every_act_on_a_plan_not_approved_and_moving_early_out_of_force(
        approved_plan, merchant):
    submitted = _with_status(approved_plan, TransferPlan.Status.SUBMITTED)
    for act in (consent_state_withdraw, consent_state_object, consent_state_early_request):
        with pytest.raises(GovernanceError):
            act(plan=submitted, subject=merchant)
    _with_status(approved_plan, TransferPlan.Status.SUPERSEDED)
    consent_state_object(plan=approved_plan, subject=merchant)  # a right that does not lapse
    with pytest.raises(GovernanceError):
        consent_state_early_request(plan=approved_plan, subject=merchant)
