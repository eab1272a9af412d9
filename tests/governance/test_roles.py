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
