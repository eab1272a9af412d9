"""Totals from every party: the source, its subcontractor, the city and the recipient each
declare their own figures, signed; the report shows them side by side."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from settlement.models import PartyDeclaration
from tests.settlement.conftest import release_now, signed
from tests.staff import login_verified
from tests.transfers.conftest import make_api

pytestmark = pytest.mark.django_db


def _declaration(plan, role, *, users=6, balance=21_000, fee=2_100, **override) -> dict:
    return {"plan": plan.pk, "nonce": secrets.token_urlsafe(16),
            "signed_at": timezone.now().isoformat(), "role": role,
            "as_of": timezone.localdate().isoformat(),
            "totals": {"subjects": {"merchant": 2, "user": users},
                       "certificate_balance_sum": balance, "issuance_fee_sum": fee},
            **override}


def _url(plan) -> str:
    return f"/api/plans/{plan.pk}/declarations"


def test_every_party_declares_and_the_report_puts_them_side_by_side(
        client, officer, approved_plan, users, outgoing_operator, incoming_operator,
        subcontractor, city_party):
    release_now(approved_plan)  # every user's balance and both merchants move to Shinhan
    for who, role, scope, figures in (
            (outgoing_operator, "source", "upload", {}),
            (subcontractor, "subcontractor", "upload", {"users": 7, "balance": 21_500,
                                                        "fee": 2_150}),
            (incoming_operator, "recipient", "release:ack", {})):
        api = make_api(who, scope=scope)
        response = api.post(_url(approved_plan), signed(
            who.signing_private_key, _declaration(approved_plan, role, **figures)))
        assert response.status_code == 201, (role, response.content)
    # The city uses the admin: an officer enters its signed declaration, checked against
    # the city's own key.
    login_verified(client, officer)
    city = signed(city_party.signing_private_key, _declaration(approved_plan, "city"))
    entered = client.post("/admin/settlement/partydeclaration/signed/", {
        "plan": approved_plan.pk, "role": "city", **city})
    assert entered.status_code == 302, entered.content.decode()[-3000:]

    report = make_api(subcontractor, scope="upload").get(_url(approved_plan)).json()
    page = client.get(entered["Location"]).content.decode()

    assert [p["role"] for p in report["parties"]] == ["source", "subcontractor", "city",
                                                     "recipient"]
    rows = {r["metric"]: r for r in report["rows"]}
    assert rows["certificate_balance_sum"]["accepted"] == 21_000
    assert rows["certificate_balance_sum"]["differences"] == {
        "source": 0, "subcontractor": 500, "city": 0, "recipient": 0}
    assert rows["subjects.user"]["differences"]["subcontractor"] == 1
    assert rows["issuance_fee_sum"]["accepted"] is None
    assert rows["issuance_fee_sum"]["differences"] == {
        "source": 0, "subcontractor": 50, "city": 0, "recipient": None}  # no fee moves
    assert report["agree"] is False
    assert AuditEvent.objects.filter(action="settlement.declared").count() == 4
    assert AuditEvent.objects.filter(action="settlement.declared",
                                     actor_id=f"user:{officer.pk}").count() == 1
    assert 'data-metric="certificate_balance_sum"' in page and "+500" in page
    assert "상품권 잔액 합계" in page and "이전 운영사의 재수탁자" in page
    assert rows["certificate_balance_sum"]["references"]["recipient"] == 21_000  # moved


def test_the_recipient_is_set_against_what_moved_not_what_was_accepted(
        client, officer, approved_plan, users, incoming_operator):
    """Two users objected (one asked for a refund): their 3,000 + 4,000 won never reached
    Shinhan. A recipient declaring what it received agrees; one declaring the accepted
    total is 7,000 won and two users over what moved."""
    from tests.settlement.conftest import object_to, refund_for

    object_to(approved_plan, users[2])
    refund_for(approved_plan, users[3])
    release_now(approved_plan)
    api = make_api(incoming_operator, scope="release:ack")

    def declare(**figures):
        response = api.post(_url(approved_plan), signed(
            incoming_operator.signing_private_key,
            _declaration(approved_plan, "recipient", **figures)))
        assert response.status_code == 201, response.content
        return {r["metric"]: r for r in api.get(_url(approved_plan)).json()["rows"]}

    received = declare(users=4, balance=14_000, fee=1_400)
    assert received["certificate_balance_sum"]["moved"] == 14_000
    assert received["certificate_balance_sum"]["differences"] == {"recipient": 0}
    assert received["subjects.user"]["differences"] == {"recipient": 0}
    assert received["subjects.merchant"]["differences"] == {"recipient": 0}
    assert received["issuance_fee_sum"]["differences"] == {"recipient": None}

    claimed = declare(users=6, balance=21_000)
    assert claimed["certificate_balance_sum"]["differences"] == {"recipient": 7_000}
    assert claimed["subjects.user"]["differences"] == {"recipient": 2}


def test_a_city_declaration_signed_with_another_key_is_refused_in_the_admin(
        client, officer, approved_plan, users, city_party, outgoing_operator):
    login_verified(client, officer)
    forged = signed(outgoing_operator.signing_private_key, _declaration(approved_plan, "city"))

    response = client.post("/admin/settlement/partydeclaration/signed/", {
        "plan": approved_plan.pk, "role": "city", **forged})

    assert response.status_code == 200 and "bad_signature" in response.content.decode()
    assert not PartyDeclaration.objects.exists()


@pytest.mark.parametrize("tamper, status, code", [
    ("not_its_role", 400, "wrong_role"),
    ("unknown_role", 400, "invalid_declaration"),
    ("bad_date", 400, "invalid_declaration"),
    ("future_date", 400, "invalid_declaration"),
    ("negative", 400, "invalid_declaration"),
    ("missing_fee", 400, "invalid_declaration"),
    ("other_key", 400, "bad_signature"),
    ("stale", 400, "stale_declaration"),
])
def test_a_wrong_declaration_is_refused_and_nothing_is_stored(
        approved_plan, users, subcontractor, incoming_operator, tamper, status, code):
    body = _declaration(approved_plan, "subcontractor")
    key = subcontractor.signing_private_key
    if tamper == "not_its_role":
        body["role"] = "city"
    elif tamper == "unknown_role":
        body["role"] = "auditor"
    elif tamper == "bad_date":
        body["as_of"] = "2026-13-01"
    elif tamper == "future_date":
        body["as_of"] = (timezone.localdate() + dt.timedelta(days=5)).isoformat()
    elif tamper == "negative":
        body["totals"]["certificate_balance_sum"] = -1
    elif tamper == "missing_fee":
        del body["totals"]["issuance_fee_sum"]
    elif tamper == "other_key":
        key = incoming_operator.signing_private_key
    elif tamper == "stale":
        body["signed_at"] = (timezone.now() - dt.timedelta(minutes=20)).isoformat()

    response = make_api(subcontractor, scope="upload").post(_url(approved_plan),
                                                            signed(key, body))

    assert (response.status_code, response.json()["error"]) == (status, code), response.content
    assert not PartyDeclaration.objects.exists()


def test_a_replayed_declaration_is_refused(approved_plan, users, subcontractor):
    api = make_api(subcontractor, scope="upload")
    body = signed(subcontractor.signing_private_key,
                  _declaration(approved_plan, "subcontractor"))
    assert api.post(_url(approved_plan), body).status_code == 201

    again = api.post(_url(approved_plan), body)

    assert (again.status_code, again.json()["error"]) == (409, "replayed")
    assert PartyDeclaration.objects.count() == 1


def test_an_operator_party_to_nothing_sees_no_declarations(approved_plan, users,
                                                          unrelated_operator):
    api = make_api(unrelated_operator)

    assert api.get(_url(approved_plan)).status_code == 404
    assert api.post(_url(approved_plan), signed(
        unrelated_operator.signing_private_key,
        _declaration(approved_plan, "source"))).status_code == 404


def test_the_recipient_declares_only_with_its_acknowledgement_scope(
        approved_plan, users, incoming_operator):
    body = signed(incoming_operator.signing_private_key,
                  _declaration(approved_plan, "recipient"))

    refused = make_api(incoming_operator, scope="release:read").post(_url(approved_plan), body)

    assert refused.status_code == 403 and not PartyDeclaration.objects.exists()


def test_a_staff_member_without_a_role_enters_no_declaration_and_sees_no_report(
        client, clerk, approved_plan, users, city_party):
    """Choi logs in with both factors but holds neither role: she cannot hand in the city's
    signed declaration, even a correctly signed one, nor read the parties' totals."""
    login_verified(client, clerk)
    declaration = signed(city_party.signing_private_key, _declaration(approved_plan, "city"))

    entered = client.post("/admin/settlement/partydeclaration/signed/", {
        "plan": approved_plan.pk, "role": "city", **declaration})
    report = client.get(f"/admin/settlement/partydeclaration/report/{approved_plan.pk}/")

    assert entered.status_code == 403 and "21,000" not in entered.content.decode()
    assert report.status_code == 403
    assert not PartyDeclaration.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="settlement.").exists()
