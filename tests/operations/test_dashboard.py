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


def _notice_sent_to_users(plan, n: int, *, reached: int, undelivered: int):
    """A notice campaign without reminders for ``n`` users: ``reached`` of them delivered,
    ``undelivered`` never, the rest still on their way."""
    from consent.models import Campaign, ConsentRequest, SmsMessage
    from consent.services.sending import sms_status_update
    from governance.models import DataSubject
    from governance.services import subjects_upsert

    result = subjects_upsert(operator=plan.from_operator, kind="user", by=None,
                             rows=[{"external_id": f"U-{i}"} for i in range(n)])
    campaign = Campaign.objects.create(plan=plan, name="이용자 이전 고지", subject_kind="user",
                                       items=["user.phone"], carries_notice=True,
                                       reminder_count=0, status=Campaign.Status.RUNNING,
                                       expires_at=timezone.now() + dt.timedelta(days=14))
    subjects = DataSubject.objects.filter(pk__in=result.ids.values()).order_by("id")
    for i, subject in enumerate(subjects):
        request = ConsentRequest.objects.create(campaign=campaign, subject=subject,
                                                expires_at=campaign.expires_at, status="sent")
        SmsMessage.objects.create(request=request, purpose="invitation", attempts=1,
                                  status=SmsMessage.Status.SUBMITTED, provider_sid=f"SM{i:032d}",
                                  notice_hash="f" * 64)
        if i < reached + undelivered:
            sms_status_update(provider_sid=f"SM{i:032d}",
                              provider_status="delivered" if i < reached else "undelivered")
    return campaign


def test_it_shows_how_far_the_notice_got_and_who_it_never_reached(client, officer,
                                                                   approved_plan):
    from governance.models import TransferPlan

    TransferPlan.objects.filter(pk=approved_plan.pk).update(
        approved_at=timezone.now() - dt.timedelta(hours=1))
    _notice_sent_to_users(approved_plan, 6, reached=3, undelivered=2)
    login_verified(client, officer)

    html = client.get("/admin/dashboard/").content.decode()

    card = html.split('id="review-notice-unreached"')[1].split("</div>")[0]
    assert '<strong class="alert">2</strong>' in card and "고지 미도달" in card
    assert "notice_reach=unreached" in card
    row = html.split(f'data-notice-plan="{approved_plan.pk}"')[1].split("</tr>")[0]

    def cell(attribute):
        return row.split(f'{attribute}">')[1].split("<")[0]

    assert cell('data-channel="lms') == "3"
    assert cell('data-step="pending') == "1"
    assert cell('data-unreached="lms') == "2" and cell('data-unreached="no_sms') == "0"
    assert f"unreached-export/?plan={approved_plan.pk}" in row


def test_nobody_unreached_shows_no_alert(client, officer, approved_plan):
    login_verified(client, officer)

    html = client.get("/admin/dashboard/").content.decode()

    card = html.split('id="review-notice-unreached"')[1].split("</div>")[0]
    assert '<strong class="">0</strong>' in card
    assert "고지를 보내는 계획이 없습니다." in html


def test_a_staff_member_without_a_role_sees_no_plan_on_it(client, clerk, approved_plan):
    login_verified(client, clerk)

    page = client.get("/admin/dashboard/")

    assert page.status_code in (302, 403)
    assert approved_plan.title not in page.content.decode()
