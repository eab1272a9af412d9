"""The officers' dashboard: every plan, campaign and open review on one page."""

import datetime as dt

import pytest
from django.utils import timezone

from tests.staff import login_verified

pytestmark = pytest.mark.django_db


def _campaign_with_requests(plan, subjects):
    from consent.models import Campaign, ConsentRequest

    campaign = Campaign.objects.create(plan=plan, name="가맹점 동의 1차", subject_kind="merchant",
                                       items=[], status=Campaign.Status.RUNNING,
                                       expires_at=timezone.now() + dt.timedelta(days=14))
    now = timezone.now()
    for i, subject in enumerate(subjects):
        ConsentRequest.objects.create(
            campaign=campaign, subject=subject, expires_at=campaign.expires_at,
            first_sent_at=now, opened_at=now if i < 2 else None)
    return campaign


def test_it_shows_an_officer_the_plan_and_the_campaign_funnel(client, officer, approved_plan,
                                                              outgoing_operator):
    from governance.services import subjects_upsert

    result = subjects_upsert(operator=outgoing_operator.operator, kind="merchant", by=None,
                             rows=[{"external_id": f"M-{i}"} for i in range(4)])
    from governance.models import DataSubject

    _campaign_with_requests(approved_plan,
                            DataSubject.objects.filter(pk__in=result.ids.values()))
    login_verified(client, officer)

    page = client.get("/admin/dashboard/")

    assert page.status_code == 200
    html = page.content.decode()
    assert approved_plan.title in html and "승인됨" in html
    row = html.split('data-campaign="')[1].split("</tr>")[0]

    def cell(step):
        return row.split(f'data-step="{step}">')[1].split("<")[0]

    assert [cell(s) for s in ("created", "sent", "delivered", "opened")] == ["4", "4", "0", "2"]
    assert cell("answered_percent") == "0.0%"  # opened, but nobody answered yet


def test_it_counts_what_waits_for_an_officer(client, officer, approved_plan, field_catalogue):
    from governance.services import plan_create, plan_submit

    draft = plan_create(by=officer, from_operator=approved_plan.from_operator,
                        to_operator=approved_plan.to_operator, title="2차 계획", purpose="p",
                        retention="r",
                        rules=[(field_catalogue["merchant.shop_name"], "not_personal", False)])
    plan_submit(plan=draft, by=officer)
    login_verified(client, officer)

    html = client.get("/admin/dashboard/").content.decode()

    card = html.split('id="review-plans"')[1].split("</div>")[0]
    assert '<strong class="alert">1</strong>' in card


def test_the_commission_reviewer_sees_it_read_only(client, commission_reviewer, approved_plan):
    login_verified(client, commission_reviewer)

    assert client.get("/admin/dashboard/").status_code == 200


def test_it_sends_anyone_else_to_the_login_page(client, approved_plan):
    page = client.get("/admin/dashboard/")

    assert page.status_code == 302 and "/admin/login/" in page["Location"]


def test_the_admin_index_links_to_it(client, officer):
    login_verified(client, officer)

    assert 'href="/admin/dashboard/"' in client.get("/admin/").content.decode()


def test_it_shows_releases_and_a_plan_whose_totals_disagree(client, officer, approved_plan):
    from transfers.models import Upload

    Upload.objects.create(plan=approved_plan, operator_id=approved_plan.from_operator_id,
                          declared_totals={"subjects": {"merchant": 5}})
    login_verified(client, officer)

    html = client.get("/admin/dashboard/").content.decode()

    row = html.split(f'<tr data-plan="{approved_plan.pk}"><td>')[1].split("</tr>")[0]
    assert 'class="num alert">1</td>' in row  # declared 5 merchants, none accepted
    assert "릴리스가 없습니다." in html
