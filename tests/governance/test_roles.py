"""Who is who in a plan: the controller, the processors and each field's controller."""

from __future__ import annotations

import pytest

from governance.selectors import plan_roles
from governance.seoul import CONTROLLERS

pytestmark = pytest.mark.django_db


def test_the_seoul_plan_names_the_city_as_controller_and_the_operators_as_processors(
        approved_plan, city, outgoing_operator, incoming_operator):
    roles = plan_roles(approved_plan)
    assert roles.controller == city
    assert roles.outgoing_processor == outgoing_operator.operator
    assert roles.incoming_processor == incoming_operator.operator
    assert roles.subcontractor is None
    assert roles.processors == (outgoing_operator.operator, incoming_operator.operator)
    for party in (roles.controller, *roles.processors):
        assert party.privacy_officer_name and party.privacy_officer_contact
        assert party.name and party.phone and party.address


def test_each_field_names_the_controller_the_seoul_map_gives_it(approved_plan):
    roles = plan_roles(approved_plan)
    assert {key: owner.code for key, owner in roles.field_controllers.items()} == {
        key: code for key, (code, _reason) in CONTROLLERS.items()}
    assert roles.controls_itself("merchant.email")
    assert not roles.controls_itself("merchant.representative_phone")


def test_a_plan_made_without_naming_its_controller_gets_the_one_its_processor_serves(
        approved_plan, city):
    # approved_plan is made by plan_create without a controller (as older callers do).
    assert approved_plan.controller == city


def test_a_basis_that_does_not_fit_the_roles_is_refused_and_shown_before_approval(
        officer, second_officer, outgoing_operator, incoming_operator, unrelated_operator,
        field_catalogue, merchant):
    from governance.policy import Reason
    from governance.selectors import plan_decisions, plan_role_checks
    from governance.seoul import PLAN_VALUES
    from governance.services import plan_approve, plan_create, plan_submit

    # The city's fields on consent, its processor's own e-mail on entrustment, and a plan
    # that names Bizplay (not the city) as controller.
    rules = [(field_catalogue["merchant.representative_name"], "consent", False),
             (field_catalogue["merchant.email"], "entrustment_return", False),
             (field_catalogue["merchant.business_registration_number"],
              "entrustment_return", False),
             (field_catalogue["merchant.settlement_bank_account"], "consent", True)]
    plan = plan_create(by=officer, from_operator=outgoing_operator.operator,
                       to_operator=incoming_operator.operator,
                       controller=unrelated_operator.operator, rules=rules, **PLAN_VALUES)
    fits = {check.field_key: check.fits for check in plan_role_checks(plan)}
    assert fits == {"merchant.representative_name": False, "merchant.email": False,
                    "merchant.business_registration_number": False,
                    "merchant.settlement_bank_account": True}
    plan_submit(plan=plan, by=officer)
    plan = plan_approve(plan=plan, by=second_officer)
    [(_, decisions)] = plan_decisions(plan, now=plan.approved_at, subject_ids=[merchant.pk])
    assert {k for k, d in decisions.items() if d.reason == Reason.DENIED_ROLE_MISMATCH} == {
        "merchant.representative_name", "merchant.email",
        "merchant.business_registration_number"}


def test_every_basis_of_the_seoul_plan_follows_from_the_seoul_map(approved_plan):
    from governance.selectors import plan_role_checks

    checks = plan_role_checks(approved_plan)
    assert len(checks) == len(CONTROLLERS)
    assert [c.field_key for c in checks if not c.fits] == []
