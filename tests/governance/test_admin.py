"""The privacy officers' admin: real requests, as an officer would make them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from audit.models import AuditEvent
from governance.models import OwnershipDispute, Ruling, TransferPlan
from governance.seoul import PLAN_VALUES
from governance.services import plan_create, plan_submit
from tests.staff import login_verified

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:governance_transferplan_changelist"


@pytest.fixture
def submitted_plan(officer, outgoing_operator, incoming_operator, field_catalogue):
    plan = plan_create(by=officer, from_operator=outgoing_operator.operator,
                       to_operator=incoming_operator.operator,
                       rules=[(field_catalogue["merchant.shop_name"], "not_personal", False)],
                       **PLAN_VALUES)
    return plan_submit(plan=plan, by=officer)


def _action(client, action: str, *pks):
    return client.post(reverse(CHANGELIST), {"action": action,
                                             helpers.ACTION_CHECKBOX_NAME: [str(p) for p in pks]},
                       follow=True)


def test_the_submitter_is_refused_when_approving_through_the_admin(client, officer,
                                                                   submitted_plan):
    login_verified(client, officer)
    response = _action(client, "approve_plans", submitted_plan.pk)
    assert response.status_code == 200
    assert "승인 요청자 본인은 승인할 수 없습니다" in response.content.decode()
    submitted_plan.refresh_from_db()
    assert submitted_plan.status == TransferPlan.Status.SUBMITTED


def test_a_second_officer_approves_through_the_admin(client, second_officer, submitted_plan):
    login_verified(client, second_officer)
    response = _action(client, "approve_plans", submitted_plan.pk)
    assert "승인됨" in response.content.decode()
    submitted_plan.refresh_from_db()
    assert submitted_plan.status == TransferPlan.Status.APPROVED
    assert submitted_plan.approved_by == second_officer


def test_an_approved_plan_cannot_be_changed_through_its_admin_page(client, officer,
                                                                   approved_plan):
    login_verified(client, officer)
    url = reverse("admin:governance_transferplan_change", args=[approved_plan.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'name="purpose"' not in page.content.decode()
    response = client.post(url, {"title": "바꾼 제목", "purpose": "x"})
    assert response.status_code == 403
    approved_plan.refresh_from_db()
    assert approved_plan.title == PLAN_VALUES["title"]


def test_an_officer_drafts_a_plan_with_field_rules_and_each_change_is_audited(
        client, officer, outgoing_operator, incoming_operator, field_catalogue):
    login_verified(client, officer)
    data = {
        "title": "리허설 1차", "from_operator": outgoing_operator.operator.pk,
        "to_operator": incoming_operator.operator.pk, "rehearsal": "on",
        "purpose": "운영사 변경", "retention": "계약 종료 시까지", "recipient_limits": "",
        "method": "API", "notice_period_days": "30",
        "rules-TOTAL_FORMS": "2", "rules-INITIAL_FORMS": "0",
        "rules-0-field": field_catalogue["merchant.shop_name"].pk,
        "rules-0-basis": "not_personal",
        "rules-1-field": field_catalogue["merchant.email"].pk,
        "rules-1-basis": "consent", "rules-1-required": "on",
    }
    response = client.post(reverse("admin:governance_transferplan_add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    plan = TransferPlan.objects.get(title="리허설 1차")
    assert plan.rehearsal and plan.created_by == officer
    assert {r.field.key: (r.basis, r.required) for r in plan.rules.all()} == {
        "merchant.shop_name": ("not_personal", False), "merchant.email": ("consent", True)}
    actions = list(AuditEvent.objects.filter(target_type="governance.transferplan",
                                             target_id=str(plan.pk)).order_by("id")
                   .values_list("action", flat=True))
    assert actions == ["plan.created", "plan.rule_set", "plan.rule_set"]


def test_the_plan_summary_shows_who_may_move_and_who_waits(client, officer, approved_plan,
                                                           merchant, user):
    login_verified(client, officer)
    response = client.get(reverse("admin:governance_transferplan_summary",
                                  args=[approved_plan.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "항목별 이전 현황" in html
    row = html.split('data-field="merchant.settlement_bank_account"')[1].split("</tr>")[0]
    assert '<td class="allowed">0</td>' in row and '<td class="waiting">1</td>' in row
    assert "동의 대기 중 (consent pending): 1" in row
    shop = html.split('data-field="merchant.shop_name"')[1].split("</tr>")[0]
    assert '<td class="allowed">1</td>' in shop


def test_the_unrelated_operator_has_no_admin_access(client, django_user_model):
    outsider = django_user_model.objects.create_user(username="bizplay-staff", password="x" * 12)
    client.force_login(outsider)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_an_officer_opens_a_dispute_and_records_the_ruling_in_the_admin(
        client, officer, city, outgoing_operator, field_catalogue):
    login_verified(client, officer)
    name = field_catalogue["merchant.representative_name"]
    phone = field_catalogue["merchant.representative_phone"]
    response = client.post(reverse("admin:governance_field_changelist"), {
        "action": "open_dispute", helpers.ACTION_CHECKBOX_NAME: [name.pk, phone.pk]})
    assert response.status_code == 302
    form = client.get(response["Location"])
    assert form.status_code == 200
    response = client.post(reverse("admin:governance_ownershipdispute_add"), {
        "title": "대표자 정보 분쟁", "fields": [name.pk, phone.pk], "claimant": city.pk,
        "counter_claimant": outgoing_operator.operator.pk, "claimant_ground": "주관자",
        "counter_ground": "영업 비밀", "opened_on": "2022-01-20"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    dispute = OwnershipDispute.objects.get()
    assert set(dispute.fields.values_list("key", flat=True)) == {name.key, phone.key}

    response = client.post(reverse("admin:governance_ruling_add"), {
        "dispute": dispute.pk, "authority": "개인정보보호위원회", "decided_on": "2022-03-04",
        "reference": "", "controller": city.pk, "processor": outgoing_operator.operator.pk,
        "outcome": "운영사는 수탁자", "effect": ""})
    assert response.status_code == 302
    ruling = Ruling.objects.get()
    assert ruling.decided_on == dt.date(2022, 3, 4)
    dispute.refresh_from_db()
    assert dispute.status == OwnershipDispute.Status.RULED
    assert {"dispute.opened", "ruling.recorded", "ownership.set"} <= set(
        AuditEvent.objects.values_list("action", flat=True))


def test_editing_an_operator_in_the_admin_is_audited(client, officer, city):
    login_verified(client, officer)
    url = reverse("admin:governance_operator_change", args=[city.pk])
    response = client.post(url, {"code": city.code, "name": city.name, "name_en": city.name_en,
                                 "role": city.role, "address": city.address,
                                 "phone": "02-120", "keys-TOTAL_FORMS": "0",
                                 "keys-INITIAL_FORMS": "0"})
    assert response.status_code == 302, response.content.decode()[:1500]
    event = AuditEvent.objects.filter(action="operator.updated").get()
    assert event.actor_id == f"user:{officer.pk}"


def test_the_commission_reviewer_cannot_approve_through_the_admin(client, commission_reviewer,
                                                                  submitted_plan):
    login_verified(client, commission_reviewer)
    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200 and "approve_plans" not in page.content.decode()
    _action(client, "approve_plans", submitted_plan.pk)
    submitted_plan.refresh_from_db()
    assert submitted_plan.status == TransferPlan.Status.SUBMITTED


def test_the_field_list_marks_disputed_fields(client, officer, city, outgoing_operator,
                                              field_catalogue):
    from governance.services import dispute_open

    dispute_open(title="분쟁", fields=[field_catalogue["merchant.representative_name"]],
                 claimant=city, counter_claimant=outgoing_operator.operator,
                 claimant_ground="주관자", by=officer)
    login_verified(client, officer)
    html = client.get(reverse("admin:governance_field_changelist") + "?q=representative_name"
                      ).content.decode()
    rows = [row for row in html.split("<tr") if "merchant.representative_name</a>" in row]
    assert len(rows) == 1
    assert '<td class="field-is_disputed"><img src="/static/admin/img/icon-yes.svg" alt="True">' \
        in rows[0]


def test_the_plan_page_shows_roles_misfits_and_kept_consents_before_approval(
        client, officer, approved_plan, field_catalogue):
    from governance.services import plan_new_version, plan_rule_set, plan_update

    v2 = plan_new_version(plan=approved_plan, by=officer)
    plan_update(plan=v2, by=officer, cutover_at=approved_plan.cutover_at + dt.timedelta(days=7))
    plan_rule_set(plan=v2, field=field_catalogue["merchant.email"], basis="consent",
                  required=True, by=officer)
    plan_rule_set(plan=v2, field=field_catalogue["merchant.representative_name"],
                  basis="consent", by=officer)
    login_verified(client, officer)
    html = client.get(reverse("admin:governance_transferplan_change", args=[v2.pk])
                      ).content.decode()
    assert "개인정보처리자 (controller): <strong>서울특별시</strong>" in html
    misfit = html.split('data-role-field="merchant.representative_name"')[1].split("</tr>")[0]
    assert "denied_role_mismatch" in misfit and "서울특별시" in misfit
    assert "개인정보보호위원회 2022-03-04" in misfit  # why the city controls it
    fits = html.split('data-role-field="merchant.email"')[1].split("</tr>")[0]
    assert "적합" in fits and "denied_role_mismatch" not in fits
    kept = html.split('data-consent-field="merchant.settlement_bank_account"')[1].split("</tr>")[0]
    assert "동의 유지 (kept)" in kept
    voided = html.split('data-consent-field="merchant.email"')[1].split("</tr>")[0]
    assert "동의 무효" in voided and "필수·선택" in voided


def test_the_review_names_each_basis_and_says_when_a_field_stops_or_starts_being_asked(
        client, officer, approved_plan, field_catalogue):
    """A field that is no longer a consent item under the new version has nobody to ask
    again, and a field that becomes one has never been asked: the page says which."""
    from governance.services import plan_new_version, plan_rule_set

    v2 = plan_new_version(plan=approved_plan, by=officer)
    plan_rule_set(plan=v2, field=field_catalogue["merchant.email"], basis="prohibited",
                  by=officer)
    plan_rule_set(plan=v2, field=field_catalogue["merchant.representative_name"],
                  basis="consent", by=officer)
    login_verified(client, officer)
    html = client.get(reverse("admin:governance_transferplan_change", args=[v2.pk])
                      ).content.decode()

    def row(attr, key):
        return html.split(f'{attr}="{key}"')[1].split("</tr>")[0]

    assert "위탁 반환 (PIPA Art. 26)" in row("data-role-field",
                                          "merchant.business_registration_number")
    stopped = row("data-consent-field", "merchant.email")
    assert 'data-outcome="no_longer_consent"' in stopped and "동의 항목이 아님" in stopped
    assert "다시 받아야 함" not in stopped
    started = row("data-consent-field", "merchant.representative_name")
    assert 'data-outcome="new_consent"' in started and "새 동의 항목" in started
    kept = row("data-consent-field", "merchant.settlement_bank_account")
    assert 'data-outcome="kept"' in kept


def test_a_staff_member_without_a_role_sees_no_plan_and_cannot_approve_one(
        client, clerk, submitted_plan):
    """Choi logs in with both factors but holds neither role: the admin shows her no plan,
    no operator and no subject, and her approval changes nothing."""
    login_verified(client, clerk)

    index = client.get(reverse("admin:index")).content.decode()
    changelist = client.get(reverse(CHANGELIST))
    change = client.get(reverse("admin:governance_transferplan_change", args=[submitted_plan.pk]))
    summary = client.get(reverse("admin:governance_transferplan_summary",
                                 args=[submitted_plan.pk]))
    subjects = client.get(reverse("admin:governance_datasubject_changelist"))
    approval = client.post(reverse(CHANGELIST), {
        "action": "approve_plans", helpers.ACTION_CHECKBOX_NAME: [str(submitted_plan.pk)]})

    assert "/admin/governance/" not in index
    for response in (changelist, change, summary, subjects, approval):
        assert response.status_code == 403
        body = response.content.decode()
        assert submitted_plan.title not in body and "KEPF" not in body
    submitted_plan.refresh_from_db()
    assert submitted_plan.status == TransferPlan.Status.SUBMITTED
    assert submitted_plan.approved_by is None
    assert not AuditEvent.objects.filter(action="plan.approved").exists()
