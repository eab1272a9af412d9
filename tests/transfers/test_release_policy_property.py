"""Property: whatever the subjects have said and whatever notice evidence exists, a release
carries exactly the fields the policy allows for each subject at that moment, and never a
denied one (no user without evidence or an early request moves on notice)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.signing import service_public_key_bytes
from governance.models import DataSubject, FieldRule
from governance.policy import NOT_NOTIFIED, Consent, Notified, Rule, Timing, decide
from governance.selectors import plan_inputs
from governance.services import (
    Evidence,
    consent_state_early_request,
    notice_evidence_record,
    subject_consent_state_set,
)
from tests.history import notified_long_ago
from tests.transfers.conftest import upload_rows
from tests.transfers.reader import read_release_dir
from transfers import synthetic
from transfers.services import release_export, release_path, release_request

pytestmark = pytest.mark.django_db

SUBJECTS = [("merchant", i) for i in range(1, 4)] + [("user", i) for i in range(1, 4)]


class _Rollback(Exception):
    pass


def _state(kind_fields):
    keys = st.sets(st.sampled_from(kind_fields))
    answer = st.one_of(st.none(), st.fixed_dictionaries({
        "granted": keys, "declined": keys, "objected": st.booleans(),
        "withdrawn": st.booleans(), "expired": st.booleans()}))
    # Days since the notice reached the subject (None: no evidence), and an early request.
    return st.tuples(answer, st.sampled_from([None, 0, 5, 31]), st.booleans())


@pytest.fixture
def stored(approved_plan, incoming_operator):
    rows = [synthetic.merchant_row(i) if k == "merchant" else synthetic.user_row(i)
            for k, i in SUBJECTS]
    upload_rows(approved_plan, rows)
    notified_long_ago(approved_plan, subjects=[], days=40)  # approved 41 days ago, no evidence
    rules = {r.field.key: r for r in FieldRule.objects.filter(plan=approved_plan)
             .select_related("field")}
    return approved_plan, rules


MERCHANT_KEYS = sorted(k for k in synthetic.merchant_row(1) if "." in k)
USER_KEYS = sorted(k for k in synthetic.user_row(1) if "." in k)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(states=st.tuples(*[_state(MERCHANT_KEYS if k == "merchant" else USER_KEYS)
                          for k, _ in SUBJECTS]))
def test_a_recipient_never_receives_a_field_the_policy_denies(stored, incoming_operator,
                                                              states):
    plan, rules = stored
    try:
        with transaction.atomic():
            _check(plan, rules, incoming_operator, states)
            raise _Rollback
    except _Rollback:
        pass


def _check(plan, rules, incoming_operator, states):
    from django.utils import timezone

    now = timezone.now()
    consents, notified = {}, {}
    for (kind, i), (state, days, early) in zip(SUBJECTS, states, strict=True):
        external_id = (synthetic.merchant_row(i) if kind == "merchant"
                       else synthetic.user_row(i))["external_id"]
        subject = DataSubject.objects.get(kind=kind, external_id=external_id)
        notified[external_id] = NOT_NOTIFIED
        if days is not None:
            at = now - dt.timedelta(days=days)
            notice_evidence_record(plan=plan, by=None, evidence=[
                Evidence(subject, "lms", at, f"sms-{subject.pk}")])
            notified[external_id] = Notified(at)
        if early:
            consent_state_early_request(plan=plan, subject=subject,
                                        requested_at=now - dt.timedelta(minutes=1))
        if state is None:
            consents[external_id] = Consent(early_requested=early)
            continue
        granted = state["granted"] - state["declined"]
        expires_at = now - dt.timedelta(minutes=1) if state["expired"] else None
        subject_consent_state_set(
            plan=plan, subject=subject, fields_granted=granted,
            fields_declined=state["declined"], objected=state["objected"],
            withdrawn_at=now - dt.timedelta(minutes=1) if state["withdrawn"] else None,
            expires_at=expires_at)
        consents[external_id] = Consent(
            plan_version=plan.version, granted=frozenset(granted),
            declined=frozenset(state["declined"]), objected=state["objected"],
            withdrawn=state["withdrawn"], expires_at=expires_at, early_requested=early)
    release = release_request(plan=plan, by=("operator", "operator:SHINHAN"))
    release = release_export(release_id=release.pk)
    _, records = read_release_dir(release_path(release), incoming_operator.hpke_private_key,
                                  service_public_key_bytes())
    received = {r["external_id"]: set(r["fields"]) for r in records}
    # The roles and ownership of each field as the plan has them (governance.selectors).
    inputs = plan_inputs(plan)
    ownership = {rule.field_key: own for pairs in inputs.rules_by_kind.values()
                 for rule, own in pairs}
    timing = Timing(plan_version=plan.version, plan_in_force=True,
                    notice_period=dt.timedelta(days=plan.notice_period_days),
                    parties=inputs.timing.parties)
    for kind, i in SUBJECTS:
        row = synthetic.merchant_row(i) if kind == "merchant" else synthetic.user_row(i)
        allowed = {
            key for key in row if "." in key and decide(
                Rule(key, rules[key].field.personal, rules[key].basis, rules[key].required),
                ownership[key], consents[row["external_id"]], notified[row["external_id"]], timing,
                release.as_of).allowed}
        assert received.get(row["external_id"], set()) == allowed, (row["external_id"])
