"""The policy decision point, property-tested: deny by default, the six properties, the
roles (exhaustively over small sets of parties) and consent kept across plan versions."""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import given
from hypothesis import strategies as st

from governance.policy import (
    BASIS_STANDINGS,
    NOT_NOTIFIED,
    Basis,
    Consent,
    ConsentTerms,
    Notified,
    Ownership,
    Parties,
    Reason,
    Rule,
    Standing,
    Timing,
    consent_terms_kept,
    decide,
    role_fits,
    standing,
)

FIELDS = ("merchant.representative_name", "merchant.email", "user.phone", "user.name")
T0 = dt.datetime(2026, 4, 15, 9, 0, tzinfo=dt.UTC)

times = st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 1, 1),
                     timezones=st.just(dt.UTC))
rules = st.builds(Rule, field_key=st.sampled_from(FIELDS), personal=st.booleans(),
                  basis=st.one_of(st.none(), st.sampled_from([b.value for b in Basis]),
                                  st.just("something_else")),
                  required=st.booleans(),
                  consent_kept_from=st.frozensets(st.integers(1, 4)))
# The parties of the plans below: the city (9) controls the programme's data, KEPF (1)
# processes it and hands it to Shinhan (2); 3 is a stranger.
CITY, KEPF, SHINHAN, STRANGER = 9, 1, 2, 3
PARTIES = Parties(controller=CITY, outgoing=KEPF, incoming=SHINHAN)
OWN = Ownership(controller=KEPF)  # KEPF's own data: consent and notice fit
ENTRUSTED = Ownership(controller=CITY, processor=KEPF)  # the city's: entrustment fits
party_ids = st.one_of(st.none(), st.sampled_from([CITY, KEPF, SHINHAN, STRANGER]))
ownerships = st.builds(Ownership, disputed=st.booleans(), controller=party_ids,
                       processor=party_ids)
earlier_answers = st.builds(
    Consent, plan_version=st.integers(1, 4),
    granted=st.frozensets(st.sampled_from(FIELDS)), declined=st.frozensets(st.sampled_from(FIELDS)),
    withdrawn=st.booleans(), expires_at=st.one_of(st.none(), times))
consents = st.builds(
    Consent, plan_version=st.one_of(st.none(), st.integers(1, 4)),
    granted=st.frozensets(st.sampled_from(FIELDS)), declined=st.frozensets(st.sampled_from(FIELDS)),
    objected=st.booleans(), withdrawn=st.booleans(), expires_at=st.one_of(st.none(), times),
    early_requested=st.booleans(), earlier=st.one_of(st.none(), earlier_answers))
timings = st.builds(Timing, plan_version=st.integers(1, 4), plan_in_force=st.booleans(),
                    notice_period=st.timedeltas(min_value=dt.timedelta(0),
                                                max_value=dt.timedelta(days=60)),
                    parties=st.one_of(st.none(), st.just(PARTIES)))
# Evidence of the notice: none, or any moment (before, at or after `now`).
notices = st.one_of(st.just(NOT_NOTIFIED), st.builds(Notified, at=times))


def _live_grant(rule: Rule, consent: Consent, timing: Timing, now: dt.datetime) -> bool:
    """Granted to this version, or to an older one whose consent the field keeps (also
    beside an answer to this version that says nothing of the field)."""
    counts = consent.plan_version is not None and (
        consent.plan_version == timing.plan_version
        or consent.plan_version in rule.consent_kept_from)
    earlier = consent.earlier
    if (counts and not consent.withdrawn and earlier is not None
            and earlier.plan_version in rule.consent_kept_from
            and rule.field_key not in consent.granted | consent.declined):
        return _live_grant(rule, earlier, timing, now)
    return (counts and not consent.withdrawn
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


def _with_parties(timing: Timing) -> Timing:
    return Timing(timing.plan_version, timing.plan_in_force, timing.notice_period, PARTIES)


@given(rules, consents, notices, timings, times)
def test_a_consent_field_moves_only_with_a_live_grant_for_this_version(rule, consent, notified,
                                                                       timing, now):
    rule = Rule(rule.field_key, rule.personal, Basis.CONSENT, rule.required,
                rule.consent_kept_from)
    timing = _with_parties(timing)
    decision = decide(rule, OWN, consent, notified, timing, now)
    assert decision.allowed == (timing.plan_in_force and _live_grant(rule, consent, timing, now))


@given(rules, consents, notices, timings, times)
def test_a_notice_field_moves_only_on_the_subjects_own_evidence_or_request_and_never_objected(
        rule, consent, notified, timing, now):
    rule = Rule(rule.field_key, rule.personal, Basis.NOTICE_OPT_OUT, rule.required)
    timing = _with_parties(timing)
    decision = decide(rule, OWN, consent, notified, timing, now)
    elapsed = notified.at is not None and notified.at + timing.notice_period <= now
    assert decision.allowed == (timing.plan_in_force and not consent.objected
                                and (elapsed or consent.early_requested))
    if decision.allowed and not consent.early_requested:
        assert decision.reason == Reason.ALLOWED_NOTICE_ELAPSED


@given(rules, consents, timings, times)
def test_no_subject_without_evidence_moves_on_notice_at_any_time_unless_it_asked(
        rule, consent, timing, now):
    rule = Rule(rule.field_key, rule.personal, Basis.NOTICE_OPT_OUT, rule.required)
    timing = _with_parties(timing)
    decision = decide(rule, OWN, consent, NOT_NOTIFIED, timing, now)
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
    assert (decide(rule, OWN, consent, later, timing, now)
            == decide(rule, OWN, consent, NOT_NOTIFIED, timing, now))


def test_it_names_why_a_notice_field_waits():
    rule = Rule("user.certificate_balance", True, Basis.NOTICE_OPT_OUT)
    timing = Timing(plan_version=1, plan_in_force=True, notice_period=dt.timedelta(days=30),
                    parties=PARTIES)
    cases = [
        (Consent(), NOT_NOTIFIED, Reason.DENIED_NOT_NOTIFIED),
        (Consent(), Notified(T0 - dt.timedelta(days=29)), Reason.DENIED_NOTICE_PERIOD),
        (Consent(), Notified(T0 - dt.timedelta(days=30)), Reason.ALLOWED_NOTICE_ELAPSED),
        (Consent(early_requested=True), NOT_NOTIFIED, Reason.ALLOWED_EARLY_REQUEST),
        (Consent(objected=True, early_requested=True), Notified(T0 - dt.timedelta(days=90)),
         Reason.DENIED_OBJECTED),
    ]
    for consent, notified, expected in cases:
        decision = decide(rule, OWN, consent, notified, timing, T0)
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
    timing = Timing(plan_version=2, plan_in_force=True, parties=PARTIES)
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
        decision = decide(rule, OWN, consent, NOT_NOTIFIED, timing, T0)
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


# --- Roles --------------------------------------------------------------------------------

IDS = (None, CITY, KEPF, SHINHAN, STRANGER)
PLAN_PARTIES = [None] + [Parties(controller=c, outgoing=o, incoming=i)
                         for c, o, i in itertools.product(IDS, IDS[1:], IDS[1:]) if o != i]
FIELD_OWNERS = [Ownership(controller=c, processor=p) for c, p in itertools.product(IDS, IDS)]


def test_entrustment_moves_only_from_a_processor_of_its_controller_to_it_or_its_next_processor():
    for parties, ownership in itertools.product(PLAN_PARTIES, FIELD_OWNERS):
        fits = role_fits(Basis.ENTRUSTMENT_RETURN, ownership, parties)
        expected = (parties is not None and ownership.controller is not None
                    and parties.outgoing != ownership.controller
                    and ownership.processor == parties.outgoing
                    and parties.controller == ownership.controller)
        assert fits == expected, (parties, ownership)
        if fits:
            assert standing(ownership, parties) == (
                Standing.RETURN_TO_CONTROLLER if parties.incoming == ownership.controller
                else Standing.TO_NEXT_PROCESSOR)


def test_consent_and_notice_fit_only_where_the_outgoing_operator_controls_the_field():
    for basis in (Basis.CONSENT, Basis.NOTICE_OPT_OUT):
        for parties, ownership in itertools.product(PLAN_PARTIES, FIELD_OWNERS):
            expected = (parties is not None and ownership.controller is not None
                        and ownership.controller == parties.outgoing)
            assert role_fits(basis, ownership, parties) == expected, (basis, parties, ownership)


def test_the_other_bases_do_not_depend_on_roles():
    assert set(BASIS_STANDINGS) == {Basis.ENTRUSTMENT_RETURN, Basis.CONSENT,
                                    Basis.NOTICE_OPT_OUT}
    for basis in (Basis.NOT_PERSONAL, Basis.LEGAL_OBLIGATION, Basis.PROHIBITED, None, "x"):
        for parties, ownership in itertools.product(PLAN_PARTIES, FIELD_OWNERS):
            assert role_fits(basis, ownership, parties)


def test_every_combination_of_roles_is_decided_and_a_misfit_is_refused_with_its_reason():
    timing_of = {p: Timing(plan_version=1, plan_in_force=True, parties=p) for p in PLAN_PARTIES}
    granted = Consent(plan_version=1, granted=frozenset(FIELDS), early_requested=True)
    for basis, parties, ownership, disputed in itertools.product(
            [b.value for b in Basis], PLAN_PARTIES, FIELD_OWNERS, (False, True)):
        ownership = Ownership(disputed, ownership.controller, ownership.processor)
        rule = Rule("merchant.email", True, basis)
        decision = decide(rule, ownership, granted, NOT_NOTIFIED, timing_of[parties], T0)
        if basis == Basis.PROHIBITED:
            assert decision.reason == Reason.DENIED_PROHIBITED
        elif disputed:
            # Until a ruling names the controller, only the subject's own consent moves it.
            assert decision.reason in (Reason.ALLOWED_CONSENT, Reason.DENIED_DISPUTED)
        elif not role_fits(basis, ownership, parties):
            assert decision.reason == Reason.DENIED_ROLE_MISMATCH and not decision.allowed
        else:
            assert decision.reason != Reason.DENIED_ROLE_MISMATCH
            if basis in BASIS_STANDINGS:
                assert decision.allowed


@given(rules, ownerships, consents, notices, timings, times)
def test_a_field_moves_on_a_role_dependent_basis_only_where_the_roles_fit(
        rule, ownership, consent, notified, timing, now):
    decision = decide(rule, ownership, consent, notified, timing, now)
    if decision.allowed and not ownership.disputed:
        assert role_fits(rule.basis, ownership, timing.parties)


# --- Consent kept across versions ---------------------------------------------------------

TERMS = ConsentTerms(provider=KEPF, controller=CITY, recipient=SHINHAN, purpose="운영 승계",
                     retention="계약 종료 시까지", basis=Basis.CONSENT, required=True)
CHANGES = {"provider": STRANGER, "controller": None, "recipient": STRANGER, "purpose": "다른 목적",
           "retention": "5년", "basis": Basis.NOTICE_OPT_OUT, "required": False}


def test_consent_is_kept_only_when_nothing_the_notice_said_of_the_field_changed():
    from dataclasses import replace

    assert consent_terms_kept(TERMS, replace(TERMS))
    assert not consent_terms_kept(None, TERMS) and not consent_terms_kept(TERMS, None)
    assert set(CHANGES) == set(TERMS.__dataclass_fields__)
    for n in range(1, len(CHANGES) + 1):
        for names in itertools.combinations(CHANGES, n):
            changed = replace(TERMS, **{name: CHANGES[name] for name in names})
            assert not consent_terms_kept(TERMS, changed), names
    not_consent = replace(TERMS, basis=Basis.NOTICE_OPT_OUT)
    assert not consent_terms_kept(not_consent, not_consent)


def test_a_grant_to_an_older_version_counts_only_where_the_field_keeps_it():
    timing = Timing(plan_version=2, plan_in_force=True, parties=PARTIES)
    old_grant = Consent(plan_version=1, granted=frozenset({"merchant.email"}))
    kept = Rule("merchant.email", True, Basis.CONSENT, consent_kept_from=frozenset({1}))
    voided = Rule("merchant.email", True, Basis.CONSENT)
    assert decide(kept, OWN, old_grant, NOT_NOTIFIED, timing, T0).reason == \
        Reason.ALLOWED_CONSENT
    assert decide(voided, OWN, old_grant, NOT_NOTIFIED, timing, T0).reason == \
        Reason.DENIED_CONSENT_STALE_VERSION
    withdrawn = Consent(plan_version=1, granted=frozenset({"merchant.email"}), withdrawn=True)
    assert decide(kept, OWN, withdrawn, NOT_NOTIFIED, timing, T0).reason == \
        Reason.DENIED_CONSENT_WITHDRAWN


# --- Which register a moved item belongs in -----------------------------------------------


def test_a_moved_item_is_an_entrustment_change_between_processors_and_otherwise_a_provision():
    from governance.policy import Register, register_for

    for basis, personal, disputed, parties, ownership in itertools.product(
            [b.value for b in Basis], (False, True), (False, True), PLAN_PARTIES, FIELD_OWNERS):
        ownership = Ownership(disputed, ownership.controller, ownership.processor)
        rule = Rule("merchant.email", personal, basis)
        could_move = any(decide(rule, ownership, consent, Notified(T0 - dt.timedelta(days=90)),
                                Timing(1, True, dt.timedelta(days=30), parties), T0).allowed
                         for consent in (Consent(plan_version=1, granted=frozenset(FIELDS)),
                                         Consent(early_requested=True)))
        try:
            register = register_for(rule, ownership, parties)
        except ValueError:
            assert not could_move, (basis, personal, disputed, parties, ownership)
            continue
        assert could_move, (basis, personal, disputed, parties, ownership)
        if not personal:
            assert register is Register.NONE
        elif standing(ownership, parties) in (Standing.RETURN_TO_CONTROLLER,
                                              Standing.TO_NEXT_PROCESSOR) and not disputed:
            assert register is Register.ENTRUSTMENT
        else:
            assert register is Register.PROVISION
