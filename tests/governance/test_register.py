"""The registers: provisions to third parties (Decree Art. 15) and entrustment changes
(PIPA Art. 26) kept apart, each item with its ground; rehearsals in neither."""

from __future__ import annotations

import csv

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from governance.models import EntrustmentRecord, ProvisionRecord
from governance.services import GovernanceError, provision_record, release_register
from tests.staff import login_verified

pytestmark = pytest.mark.django_db

# A release of the Seoul plan: the city's data (Art. 26), KEPF's own (Art. 17 / 27), and a
# field that is not personal data.
RELEASED = ["merchant.representative_phone", "merchant.settlement_history",
            "merchant.settlement_bank_account", "merchant.shop_name", "user.phone"]


def _rows(path):
    with path.open(encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def test_a_release_is_split_into_a_provision_and_an_entrustment_change(
        approved_plan, city, outgoing_operator, incoming_operator, tmp_path):
    now = timezone.now()
    registered = release_register(plan=approved_plan, by=("operator", "operator:SHINHAN"),
                                  items=RELEASED, subject_count=270, started_at=now,
                                  ended_at=now, reference="release-1")
    assert registered.provision.items == ["merchant.settlement_bank_account", "user.phone"]
    assert registered.entrustment.items == ["merchant.representative_phone",
                                            "merchant.settlement_history"]
    assert "제17조" in registered.provision.item_grounds["merchant.settlement_bank_account"]
    assert "제27조" in registered.provision.item_grounds["user.phone"]
    assert all("제26조" in g for g in registered.entrustment.item_grounds.values())
    assert "개인정보 아님" not in registered.provision.statutory_ground

    call_command("export_register", "--out", str(tmp_path / "register.csv"))
    [provision] = _rows(tmp_path / "register.csv")
    assert provision["제공받는 자"] == f"{incoming_operator.operator.name} (SHINHAN)"
    assert provision["제공 항목"] == ("정산 계좌 (merchant.settlement_bank_account), "
                                  "이용자 전화번호 (user.phone)")
    assert "대표자" not in provision["제공 항목"] and "제26조" not in provision["법적 근거"]
    assert "이용자 전화번호: 개인정보 보호법 제27조" in provision["항목별 법적 근거"]
    assert provision["정보주체 수"] == "270" and provision["참조"] == "release-1"

    call_command("export_entrustments", "--out", str(tmp_path / "entrustments.csv"))
    [change] = _rows(tmp_path / "entrustments.csv")
    assert change["위탁자 (개인정보처리자)"] == f"{city.name} (SEOUL)"
    assert change["종전 수탁자"] == f"{outgoing_operator.operator.name} (KEPF)"
    assert change["새 수탁자 (또는 위탁자)"] == f"{incoming_operator.operator.name} (SHINHAN)"
    assert change["이전 항목"] == ("대표자 전화번호 (merchant.representative_phone), "
                               "정산 내역 (merchant.settlement_history)")
    assert change["이전 일시(시작)"] and change["이전 일시(종료)"]
    for action in ("provision.recorded", "entrustment.recorded", "register.exported",
                   "entrustments.exported"):
        assert AuditEvent.objects.filter(action=action).count() == 1


def test_an_entrustment_only_release_is_no_provision(approved_plan):
    row = provision_record(plan=approved_plan, by=None, subject_count=3,
                           items=["merchant.representative_name", "merchant.shop_name"],
                           provided_from=timezone.now())
    assert row is None and ProvisionRecord.objects.count() == 0
    assert EntrustmentRecord.objects.get().items == ["merchant.representative_name"]


def test_a_rehearsal_plan_reaches_neither_register(approved_plan):
    type(approved_plan).objects.filter(pk=approved_plan.pk).update(rehearsal=True)
    approved_plan.refresh_from_db()
    registered = release_register(plan=approved_plan, by=None, items=RELEASED, subject_count=1,
                                  started_at=timezone.now())
    assert registered.provision is None and registered.entrustment is None
    assert ProvisionRecord.objects.count() == 0 and EntrustmentRecord.objects.count() == 0


def test_an_item_the_plan_could_not_have_moved_is_refused_and_nothing_is_written(
        approved_plan):
    for items in (["merchant.internal_risk_score"], ["merchant.nonexistent"],
                  ["user.phone", "user.device_id"]):
        with pytest.raises(GovernanceError):
            release_register(plan=approved_plan, by=None, items=items, subject_count=1,
                             started_at=timezone.now())
    assert ProvisionRecord.objects.count() == 0 and EntrustmentRecord.objects.count() == 0


def test_officers_download_each_register_from_the_admin(client, officer, approved_plan):
    release_register(plan=approved_plan, by=None, items=RELEASED, subject_count=5,
                     started_at=timezone.now())
    login_verified(client, officer)
    for model, header, wanted in (("provisionrecord", "제공받는 자", "user.phone"),
                                  ("entrustmentrecord", "종전 수탁자",
                                   "merchant.representative_phone")):
        listing = client.get(reverse(f"admin:governance_{model}_changelist"))
        assert listing.status_code == 200
        url = reverse(f"admin:governance_{model}_export")
        assert url in listing.content.decode()
        response = client.get(url)
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        body = response.content.decode("utf-8-sig")
        assert header in body.splitlines()[0] and wanted in body


def test_each_register_counts_the_subjects_that_carried_one_of_its_items(approved_plan):
    groups = [(["merchant.representative_phone", "merchant.shop_name"], 7),  # city's only
              (["user.phone", "user.issuance_records"], 5),  # one of each
              (["user.phone"], 2)]  # KEPF's own only
    registered = release_register(
        plan=approved_plan, by=None, subject_count=14, started_at=timezone.now(),
        items=["merchant.representative_phone", "merchant.shop_name", "user.phone",
               "user.issuance_records"], groups=groups)
    assert registered.provision.subject_count == 7
    assert registered.entrustment.subject_count == 12
