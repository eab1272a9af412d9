"""plan_decisions: the decisions for every subject of a plan, from the database."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from governance.policy import Reason
from governance.selectors import plan_decision_summary, plan_decisions
from governance.seoul import synthetic_brn, synthetic_phone
from governance.services import (
    consent_state_answer,
    consent_state_object,
    consent_state_withdraw,
    subjects_upsert,
)
from tests.history import notified_long_ago

pytestmark = pytest.mark.django_db


def _decisions(plan, subject):
    [(ref, decisions)] = list(plan_decisions(plan, now=timezone.now(), subject_ids=[subject.pk]))
    assert ref.id == subject.pk and ref.public_id == subject.public_id
    return decisions


def test_each_basis_decides_as_the_plan_says_for_a_merchant_who_has_not_answered(
        approved_plan, merchant):
    decisions = _decisions(approved_plan, merchant)
    assert decisions["merchant.shop_name"].reason == Reason.ALLOWED_NOT_PERSONAL
    assert decisions["merchant.representative_phone"].reason == \
        Reason.ALLOWED_ENTRUSTMENT_RETURN
    assert decisions["merchant.settlement_history"].reason == Reason.ALLOWED_LEGAL_OBLIGATION
    assert decisions["merchant.settlement_bank_account"].reason == Reason.DENIED_CONSENT_PENDING
    assert decisions["merchant.internal_risk_score"].reason == Reason.DENIED_PROHIBITED
    assert not any(key.startswith("user.") for key in decisions)


def test_a_user_moves_on_notice_unless_they_object(approved_plan, user):
    assert _decisions(approved_plan, user)["user.phone"].reason == Reason.DENIED_NOT_NOTIFIED
    notified_long_ago(approved_plan, [user])
    assert _decisions(approved_plan, user)["user.phone"].reason == Reason.ALLOWED_NOTICE_ELAPSED
    consent_state_object(plan=approved_plan, subject=user)
    assert _decisions(approved_plan, user)["user.phone"].reason == Reason.DENIED_OBJECTED


def test_a_granted_consent_field_moves_and_a_declined_one_does_not(approved_plan, merchant):
    consent_state_answer(plan=approved_plan, subject=merchant,
                         granted=["merchant.settlement_bank_account"],
                         declined=["merchant.email"])
    decisions = _decisions(approved_plan, merchant)
    assert decisions["merchant.settlement_bank_account"].reason == Reason.ALLOWED_CONSENT
    assert decisions["merchant.email"].reason == Reason.DENIED_CONSENT_DECLINED
    # Marketing opt-in is no consent item: it never moves (the recipient asks afresh).
    assert decisions["merchant.marketing_opt_in"].reason == Reason.DENIED_PROHIBITED


def test_an_expired_or_withdrawn_consent_no_longer_counts(approved_plan, merchant):
    past = timezone.now() - dt.timedelta(minutes=1)
    consent_state_answer(plan=approved_plan, subject=merchant, expires_at=past,
                         granted=["merchant.settlement_bank_account"])
    assert _decisions(approved_plan, merchant)["merchant.settlement_bank_account"].reason == \
        Reason.DENIED_CONSENT_EXPIRED
    consent_state_withdraw(plan=approved_plan, subject=merchant, withdrawn_at=past)
    assert _decisions(approved_plan, merchant)["merchant.settlement_bank_account"].reason == \
        Reason.DENIED_CONSENT_WITHDRAWN


def test_it_decides_a_whole_plan_in_a_handful_of_queries(approved_plan, outgoing_operator,
                                                         django_assert_max_num_queries):
    rows = [{"external_id": f"M-{i:06d}", "phone": synthetic_phone(i), "brn": synthetic_brn(i)}
            for i in range(10, 130)]
    result = subjects_upsert(operator=outgoing_operator.operator, kind="merchant", rows=rows,
                             by=None)
    assert result.created == 120
    with django_assert_max_num_queries(8):
        seen = list(plan_decisions(approved_plan, now=timezone.now(), chunk_size=50))
    assert len(seen) == 120


def test_the_summary_counts_who_may_move_and_who_waits(approved_plan, merchant, user):
    notified_long_ago(approved_plan, [user])
    summary = {s.field_key: s for s in plan_decision_summary(approved_plan, now=timezone.now())}
    assert summary["merchant.shop_name"].allowed == 1
    assert summary["merchant.settlement_bank_account"].waiting == 1
    assert summary["merchant.settlement_bank_account"].waiting_by_reason() == [
        (Reason.DENIED_CONSENT_PENDING, 1)]
    assert summary["user.phone"].allowed == 1
