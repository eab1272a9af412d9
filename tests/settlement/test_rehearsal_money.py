"""The rehearsal's money stages (operations.rehearsal.money) against a live server: refunds
asked on the users' pages and confirmed by KEPF's reference client, every party's totals,
the subcontractor's list with its planted disagreements, and the disposition."""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string

from operations.rehearsal import money
from operations.rehearsal.runner import Progress
from operations.rehearsal.story import Context, Options
from tests.consent.conftest import _campaign, make_request
from tests.settlement.conftest import object_to, release_now

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ctx(live_server, approved_plan, users, officer):
    from consent.tokens import link_issue
    from governance.demo import _ensure_keys
    from governance.models import TransferPlan
    from transfers.services.clients import operator_client_create

    sub = money.subcontractor_ensure()
    TransferPlan.objects.filter(pk=approved_plan.pk).update(subcontractor=sub)
    approved_plan.refresh_from_db()
    for operator in (approved_plan.from_operator, approved_plan.to_operator):
        _ensure_keys(operator)  # the demo key files the rehearsal signs with
    campaign = _campaign(approved_plan, "user")
    links = {}
    for user in users[:4]:
        object_to(approved_plan, user)
        issued = link_issue(request=make_request(campaign, user))
        links[user.external_id] = f"{live_server.url}/c/{issued.token}"
    release_now(approved_plan)
    kepf = operator_client_create(operator=approved_plan.from_operator, by=None)
    shinhan = operator_client_create(operator=approved_plan.to_operator, by=None)
    context = Context(options=Options(quiet=True, merchants=0), progress=Progress(quiet=True),
                      base_url=live_server.url, plan=approved_plan, officer=officer,
                      kepf_client=(kepf.client_id, kepf.client_secret),
                      shinhan_client=(shinhan.client_id, shinhan.client_secret), links=links)
    context.cast.objecting_users = {1, 2, 3, 4}
    return context


def test_the_rehearsal_accounts_for_every_won_and_names_the_subcontractors_differences(ctx):
    money.stage_refunds(ctx)
    money.stage_party_totals(ctx)
    money.stage_disposition(ctx)
    money.stage_statement(ctx)

    facts = ctx.facts["money"]
    assert facts["refunds"] == {"asked": 2, "listed": 2, "confirmed": 1,
                                "confirmed_won": 1_000}
    balance = facts["disposition"]["balance"]
    assert facts["disposition"]["clean"] and balance["unaccounted"] == 0
    assert (balance["accepted"], balance["moved"], balance["refunded"],
            balance["refund_requested"]) == (21_000, 5_000 + 6_000, 1_000, 2_000)
    assert balance["held"] == {"objected_without_refund": 3_000 + 4_000}
    assert facts["declarations"]["parties"] == ["source", "subcontractor", "city", "recipient"]
    listed = facts["subcontractor_list"]
    assert listed["summary"]["differing"] == 3 and listed["summary"]["difference_sum"] == 3_000
    assert (listed["summary"]["only_listed"], listed["summary"]["only_accepted"]) == (10, 0)
    assert len(listed["differences"]) == 13
    rows = {r["metric"]: r for r in facts["declarations"]["rows"]}
    assert rows["certificate_balance_sum"]["differences"]["subcontractor"] == 3_000 + 100_000
    assert rows["certificate_balance_sum"]["differences"]["city"] == 0
    # Shinhan declares what it received (the balances that moved): no difference.
    assert rows["certificate_balance_sum"]["differences"]["recipient"] == 0
    assert rows["subjects.user"]["differences"]["recipient"] == 0
    assert facts["statement"]["signed_by"] == ["city", "recipient", "source", "subcontractor"]
    html = render_to_string("settlement/_rehearsal_money.html", {"money": facts})
    assert 'data-money-clean="1"' in html and "U-SUB-00000" in html
    assert "서명 완료" in html
    # In Korean, as the admin's pages: roles, metrics and kinds of difference.
    assert "이전 운영사의 재수탁자" in html and "상품권 잔액 합계" in html
    assert ">only_listed<" not in html and "목록에만" in html
    assert "city, recipient" not in html
