"""The Decree Art. 15 register: rows added by provision_record, exported as CSV."""

from __future__ import annotations

import csv

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from governance.services import GovernanceError, provision_record

pytestmark = pytest.mark.django_db


def test_export_register_writes_every_provision_with_its_ground_and_items(
        approved_plan, incoming_operator, tmp_path):
    provision_record(plan=approved_plan, by=("operator", "operator:SHINHAN"),
                     items=["merchant.representative_phone", "merchant.shop_name"],
                     subject_count=270, provided_from=timezone.now(), reference="release-1")
    out = tmp_path / "register.csv"
    call_command("export_register", "--out", str(out))
    with out.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1
    row = rows[0]
    assert row["제공받는 자"] == f"{incoming_operator.operator.name} (SHINHAN)"
    assert row["제공 항목"] == ("대표자 전화번호 (merchant.representative_phone), "
                            "상호명 (merchant.shop_name)")
    assert "제26조" in row["법적 근거"]
    assert row["정보주체 수"] == "270"
    assert row["제공 목적"] == approved_plan.purpose
    assert row["참조"] == "release-1"
    assert AuditEvent.objects.filter(action="provision.recorded").count() == 1
    assert AuditEvent.objects.filter(action="register.exported").count() == 1


def test_a_prohibited_or_unknown_item_cannot_be_registered_as_provided(approved_plan):
    for items in (["merchant.internal_risk_score"], ["merchant.nonexistent"]):
        with pytest.raises(GovernanceError):
            provision_record(plan=approved_plan, by=None, items=items, subject_count=1,
                             provided_from=timezone.now())
