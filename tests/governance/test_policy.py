"""The policy decision point, property-tested: deny by default, and the six properties."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from governance.policy import (
    NOT_NOTIFIED,
    Basis,
    Consent,
    Notified,
    Ownership,
    Reason,
    Rule,
    Timing,
    decide,
)

FIELDS = ("merchant.representative_name", "merchant.email", "user.phone", "user.name")
T0 = dt.datetime(2026, 4, 15, 9, 0, tzinfo=dt.UTC)

times = st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 1, 1),
                     timezones=st.just(dt.UTC))
rules = st.builds(Rule, field_key=st.sampled_from(FIELDS), personal=st.booleans(),
                  basis=st.one_of(st.none(), st.sampled_from([b.value for b in Basis]),
                                  st.just("something_else")),
                  required=st.booleans())
ownerships = st.builds(Ownership, disputed=st.booleans())
consents = st.builds(
    Consent, plan_version=st.one_of(st.none(), st.integers(1, 4)),
    granted=st.frozensets(st.sampled_from(FIELDS)), declined=st.frozensets(st.sampled_from(FIELDS)),
    objected=st.booleans(), withdrawn=st.booleans(), expires_at=st.one_of(st.none(), times),
    early_requested=st.booleans())
timings = st.builds(Timing, plan_version=st.integers(1, 4), plan_in_force=st.booleans(),
                    notice_period=st.timedeltas(min_value=dt.timedelta(0),
                                                max_value=dt.timedelta(days=60)))
# Evidence of the notice: none, or any moment (before, at or after `now`).
notices = st.one_of(st.just(NOT_NOTIFIED), st.builds(Notified, at=times))


def _live_grant(rule: Rule, consent: Consent, timing: Timing, now: dt.datetime) -> bool:
    return (consent.plan_version == timing.plan_version and not consent.withdrawn
            and (consent.expires_at is None or now < consent.expires_at)
            and rule.field_key in consent.granted and rule.field_key not in consent.declined)


@given(rules, ownerships, consents, notices, timings, times)
def test_no_personal_field_is_ever_allowed_without_a_basis(rule, ownership, consent, notified,
                                                           timing, now):
    decision = decide(rule, ownership, consent, notified, timing, now)
    if rule.personal and decision.allowed:
        assert rule.basis in {Basis.ENTRUSTMENT_RETURN, Basis.LEGAL_OBLIGATION,
                              Basis.NOTICE_OPT_OUT, Basis.CONSENT}
    if rule.basis not in {b.value for b in Basis}:
        assert not decision.allowed
        assert decision.reason in (Reason.DENIED_NO_BASIS, Reason.DENIED_PLAN_NOT_ACTIVE,
                                   Reason.DENIED_DISPUTED)


@given(rules, ownerships, consents, notices, timings, times)
def test_a_prohibited_field_never_moves(rule, ownership, consent, notified, timing, now):
    rule = Rule(rule.field_key, rule.personal, Basis.PROHIBITED, rule.required)
    assert not decide(rule, ownership, consent, notified, timing, now).allowed


@given(rules, consents, notices, timings, times)
def test_a_disputed_field_moves_only_with_a_live_consent_the_plan_asks_for(rule, consent,
                                                                           notified, timing, now):
    decision = decide(rule, Ownership(disputed=True), consent, notified, timing, now)
    if decision.allowed:
        assert rule.basis == Basis.CONSENT
        assert _live_grant(rule, consent, timing, now)
        assert decision.reason == Reason.ALLOWED_CONSENT
    elif timing.plan_in_force and rule.basis != Basis.PROHIBITED:
        assert decision.reason == Reason.DENIED_DISPUTED


@given(rules, consents, notices, timings, times)
def test_a_consent_field_moves_only_with_a_live_grant_for_this_version(rule, consent, notified,
                                                                       timing, now):
    rule = Rule(rule.field_key, rule.personal, Basis.CONSENT, rule.required)
    decision = decide(rule, Ownership(), consent, notified, timing, now)
    assert decision.allowed == (timing.plan_in_force and _live_grant(rule, consent, timing, now))


@given(rules, consents, notices, timings, times)
def test_a_notice_field_moves_only_on_the_subjects_own_evidence_or_request_and_never_objected(
        rule, consent, notified, timing, now):
    rule = Rule(rule.field_key, rule.personal, Basis.NOTICE_OPT_OUT, rule.required)
    decision = decide(rule, Ownership(), consent, notified, timing, now)
    elapsed = notified.at is not None and notified.at + timing.notice_period <= now
    assert decision.allowed == (timing.plan_in_force and not consent.objected
                                and (elapsed or consent.early_requested))
    if decision.allowed and not consent.early_requested:
        assert decision.reason == Reason.ALLOWED_NOTICE_ELAPSED


@given(rules, consents, timings, times)
def test_no_subject_without_evidence_moves_on_notice_at_any_time_unless_it_asked(
        rule, consent, timing, now):
    rule = Rule(rule.field_key, rule.personal, Basis.NOTICE_OPT_OUT, rule.required)
    decision = decide(rule, Ownership(), consent, NOT_NOTIFIED, timing, now)
    if consent.early_requested and not consent.objected and timing.plan_in_force:
        assert decision.reason == Reason.ALLOWED_EARLY_REQUEST
    else:
        assert not decision.allowed
        assert decision.reason in (Reason.DENIED_NOT_NOTIFIED, Reason.DENIED_OBJECTED,
                                   Reason.DENIED_PLAN_NOT_ACTIVE)


@given(rules, consents, timings, times)
def test_evidence_dated_after_now_counts_as_no_evidence(rule, consent, timing, now):
    rule = Rule(rule.field_key, rule.personal, Basis.NOTICE_OPT_OUT, rule.required)
    later = Notified(now + dt.timedelta(seconds=1))
    assert (decide(rule, Ownership(), consent, later, timing, now)
            == decide(rule, Ownership(), consent, NOT_NOTIFIED, timing, now))


def test_it_names_why_a_notice_field_waits():
    rule = Rule("user.certificate_balance", True, Basis.NOTICE_OPT_OUT)
    timing = Timing(plan_version=1, plan_in_force=True, notice_period=dt.timedelta(days=30))
    cases = [
        (Consent(), NOT_NOTIFIED, Reason.DENIED_NOT_NOTIFIED),
        (Consent(), Notified(T0 - dt.timedelta(days=29)), Reason.DENIED_NOTICE_PERIOD),
        (Consent(), Notified(T0 - dt.timedelta(days=30)), Reason.ALLOWED_NOTICE_ELAPSED),
        (Consent(early_requested=True), NOT_NOTIFIED, Reason.ALLOWED_EARLY_REQUEST),
        (Consent(objected=True, early_requested=True), Notified(T0 - dt.timedelta(days=90)),
         Reason.DENIED_OBJECTED),
    ]
    for consent, notified, expected in cases:
        decision = decide(rule, Ownership(), consent, notified, timing, T0)
        assert decision.reason == expected
        assert decision.explanation


@given(rules, ownerships, consents, notices, times)
def test_nothing_moves_under_a_plan_that_is_not_in_force(rule, ownership, consent, notified,
                                                         now):
    timing = Timing(plan_version=1, plan_in_force=False)
    decision = decide(rule, ownership, consent, notified, timing, now)
    assert decision == decide(rule, ownership, consent, notified, timing, now)
    assert decision.reason == Reason.DENIED_PLAN_NOT_ACTIVE


def test_it_names_why_a_consent_field_waits():
    rule = Rule("merchant.email", True, Basis.CONSENT)
    timing = Timing(plan_version=2, plan_in_force=True)
    cases = [
        (Consent(), Reason.DENIED_CONSENT_PENDING),
        (Consent(plan_version=1, granted=frozenset({"merchant.email"})),
         Reason.DENIED_CONSENT_STALE_VERSION),
        (Consent(plan_version=2, granted=frozenset({"merchant.email"}), withdrawn=True),
         Reason.DENIED_CONSENT_WITHDRAWN),
        (Consent(plan_version=2, granted=frozenset({"merchant.email"}),
                 expires_at=T0 - dt.timedelta(seconds=1)), Reason.DENIED_CONSENT_EXPIRED),
        (Consent(plan_version=2, declined=frozenset({"merchant.email"})),
         Reason.DENIED_CONSENT_DECLINED),
        (Consent(plan_version=2, granted=frozenset({"merchant.email"})), Reason.ALLOWED_CONSENT),
    ]
    for consent, expected in cases:
        decision = decide(rule, Ownership(), consent, NOT_NOTIFIED, timing, T0)
        assert decision.reason == expected
        assert decision.explanation


def test_a_personal_field_marked_not_personal_is_denied_for_lack_of_basis():
    timing = Timing(plan_version=1, plan_in_force=True)
    personal = decide(Rule("user.name", True, Basis.NOT_PERSONAL), Ownership(), Consent(),
                      NOT_NOTIFIED, timing, T0)
    shop = decide(Rule("merchant.shop_name", False, Basis.NOT_PERSONAL), Ownership(), Consent(),
                  NOT_NOTIFIED, timing, T0)
    assert (personal.allowed, personal.reason) == (False, Reason.DENIED_NO_BASIS)
    assert (shop.allowed, shop.reason) == (True, Reason.ALLOWED_NOT_PERSONAL)
