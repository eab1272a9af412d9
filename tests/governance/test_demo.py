"""The Seoul demo: complete, and safe to load twice."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.utils import timezone

from governance.models import (
    DataSubject,
    Field,
    FieldOwnership,
    Operator,
    OperatorKey,
    OwnershipDispute,
    TransferPlan,
)
from governance.policy import Reason
from governance.selectors import plan_decision_summary


def _counts():
    return {model.__name__: model.objects.count() for model in (
        Operator, OperatorKey, Field, FieldOwnership, OwnershipDispute, TransferPlan,
        DataSubject)}


@pytest.mark.django_db
def test_the_demo_loads_the_seoul_scenario_and_loading_it_again_changes_nothing(settings):
    call_command("demo")
    first = _counts()
    call_command("demo")
    assert _counts() == first
    assert first["Operator"] == 4 and first["Field"] == 20
    assert DataSubject.objects.filter(kind="merchant").count() == 300

    plan = TransferPlan.objects.get()
    assert plan.status == TransferPlan.Status.APPROVED
    assert plan.submitted_by.username == "officer" and plan.approved_by.username == "officer2"
    assert set(plan.rules.values_list("basis", flat=True)) == {
        "not_personal", "entrustment_return", "legal_obligation", "notice_opt_out", "consent",
        "prohibited"}
    dispute = OwnershipDispute.objects.get()
    assert dispute.status == "ruled" and str(dispute.ruling.decided_on) == "2022-03-04"

    summary = {s.field_key: s for s in plan_decision_summary(plan, now=timezone.now())}
    assert summary["merchant.representative_name"].counts == {
        Reason.ALLOWED_ENTRUSTMENT_RETURN.value: 300}

    keys = json.loads((settings.VAR_DIR / "demo-operator-keys" / "SHINHAN.json").read_text())
    assert OperatorKey.objects.filter(key_id=keys["hpke_key_id"], purpose="encryption").exists()
    assert (settings.VAR_DIR / "demo-operator-keys" / "SHINHAN.json").stat().st_mode & 0o077 == 0
