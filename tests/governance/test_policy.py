"""The policy decision point, property-tested: deny by default, and the five properties."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from governance.policy import (
    Basis,
    Consent,
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
    objected=st.booleans(), withdrawn=st.booleans(), expires_at=st.one_of(st.none(), times))
timings = st.builds(Timing, plan_version=st.integers(1, 4), plan_in_force=st.booleans(),
                    notice_ends_at=st.one_of(st.none(), times))


def _live_grant(rule: Rule, consent: Consent, timing: Timing, now: dt.datetime) -> bool:
    return (consent.plan_version == timing.plan_version and not consent.withdrawn
            and (consent.expires_at is None or now < consent.expires_at)
            and rule.field_key in consent.granted and rule.field_key not in consent.declined)


@given(rules, ownerships, consents, timings, times)
def test_no_personal_field_is_ever_allowed_without_a_basis(rule, ownership, consent, timing,
                                                           now):
    decision = decide(rule, ownership, consent, timing, now)
    if rule.personal and decision.allowed:
        assert rule.basis in {Basis.ENTRUSTMENT_RETURN, Basis.LEGAL_OBLIGATION,
                              Basis.NOTICE_OPT_OUT, Basis.CONSENT}
    if rule.basis not in {b.value for b in Basis}:
        assert not decision.allowed
        assert decision.reason in (Reason.DENIED_NO_BASIS, Reason.DENIED_PLAN_NOT_ACTIVE,
                                   Reason.DENIED_DISPUTED)


@given(rules, ownerships, consents, timings, times)
def test_a_prohibited_field_never_moves(rule, ownership, consent, timing, now):
    rule = Rule(rule.field_key, rule.personal, Basis.PROHIBITED, rule.required)
    assert not decide(rule, ownership, consent, timing, now).allowed


@given(rules, consents, timings, times)
def test_a_disputed_field_moves_only_with_a_live_consent_the_plan_asks_for(rule, consent,
                                                                           timing, now):
    decision = decide(rule, Ownership(disputed=True), consent, timing, now)
    if decision.allowed:
        assert rule.basis == Basis.CONSENT
        assert _live_grant(rule, consent, timing, now)
        assert decision.reason == Reason.ALLOWED_CONSENT
    elif timing.plan_in_force and rule.basis != Basis.PROHIBITED:
        assert decision.reason == Reason.DENIED_DISPUTED


@given(rules, consents, timings, times)
def test_a_consent_field_moves_only_with_a_live_grant_for_this_version(rule, consent, timing,
                                                                       now):
    rule = Rule(rule.field_key, rule.personal, Basis.CONSENT, rule.required)
    decision = decide(rule, Ownership(), consent, timing, now)
    assert decision.allowed == (timing.plan_in_force and _live_grant(rule, consent, timing, now))


@given(rules, consents, timings, times)
def test_a_notice_field_moves_only_after_the_notice_period_and_without_objection(
        rule, consent, timing, now):
    rule = Rule(rule.field_key, rule.personal, Basis.NOTICE_OPT_OUT, rule.required)
    decision = decide(rule, Ownership(), consent, timing, now)
    elapsed = timing.notice_ends_at is not None and now >= timing.notice_ends_at
    assert decision.allowed == (timing.plan_in_force and elapsed and not consent.objected)


@given(rules, ownerships, consents, times)
def test_nothing_moves_under_a_plan_that_is_not_in_force(rule, ownership, consent, now):
    timing = Timing(plan_version=1, plan_in_force=False, notice_ends_at=None)
    decision = decide(rule, ownership, consent, timing, now)
    assert decision == decide(rule, ownership, consent, timing, now)
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
        decision = decide(rule, Ownership(), consent, timing, T0)
        assert decision.reason == expected
        assert decision.explanation


def test_a_personal_field_marked_not_personal_is_denied_for_lack_of_basis():
    timing = Timing(plan_version=1, plan_in_force=True)
    personal = decide(Rule("user.name", True, Basis.NOT_PERSONAL), Ownership(), Consent(),
                      timing, T0)
    shop = decide(Rule("merchant.shop_name", False, Basis.NOT_PERSONAL), Ownership(), Consent(),
                  timing, T0)
    assert (personal.allowed, personal.reason) == (False, Reason.DENIED_NO_BASIS)
    assert (shop.allowed, shop.reason) == (True, Reason.ALLOWED_NOT_PERSONAL)
