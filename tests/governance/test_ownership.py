"""Disputes and rulings change what may move."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from governance.models import FieldOwnership, OwnershipDispute
from governance.policy import Reason
from governance.selectors import plan_decisions
from governance.services import (
    InvalidTransition,
    consent_state_answer,
    dispute_open,
    ruling_record,
)

pytestmark = pytest.mark.django_db


def _decision(plan, subject, key):
    [(_, decisions)] = plan_decisions(plan, now=timezone.now(), subject_ids=[subject.pk])
    return decisions[key]


@pytest.fixture
def dispute(officer, city, outgoing_operator, field_catalogue):
    return dispute_open(
        title="대표자 정보 분쟁", by=officer, claimant=city,
        counter_claimant=outgoing_operator.operator, claimant_ground="사업 주관자",
        fields=[field_catalogue["merchant.representative_phone"],
                field_catalogue["merchant.settlement_bank_account"]],
        opened_on=dt.date(2022, 1, 20))


def test_a_disputed_field_waits_until_the_ruling_then_follows_the_plan(
        approved_plan, merchant, dispute, officer, city, outgoing_operator):
    assert _decision(approved_plan, merchant, "merchant.representative_phone").reason == \
        Reason.DENIED_DISPUTED
    assert _decision(approved_plan, merchant, "merchant.shop_name").allowed

    ruling_record(dispute=dispute, authority="개인정보보호위원회", decided_on=dt.date(2022, 3, 4),
                  controller=city, processor=outgoing_operator.operator, outcome="수탁자",
                  by=officer)
    assert _decision(approved_plan, merchant, "merchant.representative_phone").reason == \
        Reason.ALLOWED_ENTRUSTMENT_RETURN
    dispute.refresh_from_db()
    assert dispute.status == OwnershipDispute.Status.RULED
    controller = FieldOwnership.objects.get(field__key="merchant.representative_phone",
                                            role="controller", until__isnull=True)
    assert controller.operator == city and controller.ruling == dispute.ruling
    assert AuditEvent.objects.filter(action="ruling.recorded").count() == 1


def test_a_disputed_consent_field_moves_for_a_subject_who_consented(approved_plan, merchant,
                                                                    dispute):
    key = "merchant.settlement_bank_account"
    assert _decision(approved_plan, merchant, key).reason == Reason.DENIED_DISPUTED
    consent_state_answer(plan=approved_plan, subject=merchant, granted=[key])
    assert _decision(approved_plan, merchant, key).reason == Reason.ALLOWED_CONSENT


def test_a_settled_dispute_cannot_be_ruled_on_twice(dispute, officer, city):
    ruling_record(dispute=dispute, authority="PIPC", decided_on=dt.date(2022, 3, 4),
                  controller=city, outcome="x", by=officer)
    with pytest.raises(InvalidTransition):
        ruling_record(dispute=dispute, authority="PIPC", decided_on=dt.date(2022, 3, 5),
                      controller=city, outcome="y", by=officer)
