"""Where the parties differ: a per-subject balance list compared with the accepted records
finds exactly the planted differences and the one-sided subjects (settlement.bulk's
contract), through the API and in the officer's downloadable report."""

from __future__ import annotations

import csv
import hashlib
import io
import secrets

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from settlement.models import BalanceDifference, BalanceList, BalanceListLine
from tests.settlement.conftest import signed
from tests.staff import login_verified
from tests.transfers.conftest import make_api
from transfers import synthetic

pytestmark = pytest.mark.django_db


def _csv(lines) -> bytes:
    return ("external_id,balance,fee\n" + "".join(
        f"{ext},{balance},{fee}\n" for ext, balance, fee in lines)).encode()


def _subcontractor_lines():
    """The subcontractor's view of the six users: U-0000002 holds 500 won more, U-0000004 is
    missing, and it lists a user the source never sent."""
    lines = [(f"U-{i:07d}", synthetic.user_row(i)["user.certificate_balance"], 100 * i)
             for i in range(1, 7) if i != 4]
    lines[1] = ("U-0000002", 2_500, 200)
    return [*lines, ("U-9999999", 7_000, 700)]


def _announce(api, party, plan, body: bytes, *, lines=None, **override):
    manifest = {"plan": plan.pk, "nonce": secrets.token_urlsafe(16),
                "signed_at": timezone.now().isoformat(), "role": "subcontractor",
                "as_of": timezone.localdate().isoformat(),
                "lines": lines if lines is not None else body.count(b"\n") - 1,
                "sha256": hashlib.sha256(body).hexdigest(), **override}
    return api.post(f"/api/plans/{plan.pk}/balance-lists",
                    signed(party.signing_private_key, manifest))


def _send(api, plan, list_id, body: bytes):
    return api.put(f"/api/plans/{plan.pk}/balance-lists/{list_id}/body", body,
                   content_type="text/csv")


@pytest.fixture
def compared(approved_plan, users, subcontractor):
    api = make_api(subcontractor, scope="upload")
    body = _csv(_subcontractor_lines())
    announced = _announce(api, subcontractor, approved_plan, body)
    assert announced.status_code == 201, announced.content
    sent = _send(api, approved_plan, announced.json()["id"], body)
    assert sent.status_code == 200, sent.content
    return sent.json()


def test_the_comparison_finds_exactly_the_planted_differences(compared, approved_plan, users):
    assert compared["status"] == "compared"
    assert compared["summary"] == {
        "matching": 4, "differing": 1, "only_accepted": 1, "only_listed": 1,
        "difference_sum": 500, "listed_lines": 6,
        "listed_balance_sum": 1_000 + 2_500 + 3_000 + 5_000 + 6_000 + 7_000,
        "listed_fee_sum": 100 + 200 + 300 + 500 + 600 + 700}
    found = {(d.kind, d.external_id, d.accepted_balance, d.listed_balance)
             for d in BalanceDifference.objects.all()}
    assert found == {("differs", "U-0000002", 2_000, 2_500),
                     ("only_accepted", "U-0000004", 4_000, None),
                     ("only_listed", "U-9999999", None, 7_000)}
    assert BalanceDifference.objects.get(kind="differs").subject == users[1]


def test_every_party_reads_the_differences_and_nobody_else(
        compared, approved_plan, users, outgoing_operator, incoming_operator,
        unrelated_operator):
    url = f"/api/plans/{approved_plan.pk}/balance-lists/{compared['id']}/differences"

    first = make_api(outgoing_operator, scope="upload").get(url, limit=2)
    rest = make_api(incoming_operator, scope="release:read").get(
        url, after=first.json()["next_after"])

    assert first.status_code == 200, first.content
    listed = first.json()["differences"] + rest.json()["differences"]
    assert [d["external_id"] for d in listed] == ["U-0000002", "U-0000004", "U-9999999"]
    assert listed[0] == {"kind": "differs", "external_id": "U-0000002",
                         "subject": users[1].public_id, "accepted_balance": 2_000,
                         "listed_balance": 2_500, "listed_fee": 200}
    assert listed[2]["subject"] is None
    assert make_api(unrelated_operator).get(url).status_code == 404
    lists = make_api(outgoing_operator).get(f"/api/plans/{approved_plan.pk}/balance-lists")
    assert [x["id"] for x in lists.json()["lists"]] == [compared["id"]]


def test_the_officer_downloads_the_report_with_a_reason_and_the_access_is_logged(
        client, officer, compared, approved_plan):
    balance_list = BalanceList.objects.get()
    login_verified(client, officer)
    url = f"/admin/settlement/balancelist/{balance_list.pk}/report/"

    refused = client.post(url, {"reason": ""})
    response = client.post(url, {"reason": "재수탁사 잔액 불일치 확인"})

    assert refused.status_code == 200 and "text/csv" not in refused["Content-Type"]
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1][:2] == ["kind", "external_id"]
    assert [(r[0], r[1], r[6]) for r in rows[2:]] == [
        ("differs", "U-0000002", "500"), ("only_accepted", "U-0000004", ""),
        ("only_listed", "U-9999999", "")]
    entry = AuditEvent.objects.filter(action="access.download").get()
    assert entry.details["reason"] == "재수탁사 잔액 불일치 확인"
    report = client.get(f"/admin/settlement/partydeclaration/report/{approved_plan.pk}/")
    assert url in report.content.decode()


@pytest.mark.parametrize("tamper, status, code", [
    ("other_body", 400, "body_mismatch"),
    ("line_count", 400, "body_mismatch"),
    ("duplicate", 400, "duplicate_external_id"),
    ("bad_line", 400, "invalid_body"),
    ("no_header", 400, "invalid_body"),
])
def test_a_body_that_is_not_what_was_signed_is_refused_and_nothing_is_stored(
        approved_plan, users, subcontractor, tamper, status, code):
    api = make_api(subcontractor, scope="upload")
    lines = _subcontractor_lines()
    body = _csv(lines)
    announced_body, count = body, None
    if tamper == "other_body":
        announced_body = _csv(lines[:-1] + [("U-9999999", 7_001, 700)])
    elif tamper == "line_count":
        count = len(lines) + 1
    elif tamper == "duplicate":
        body = announced_body = _csv([*lines, lines[0]])
    elif tamper == "bad_line":
        body = announced_body = body + b"U-1,-5,0\n"
    elif tamper == "no_header":
        body = announced_body = body.split(b"\n", 1)[1]
    announced = _announce(api, subcontractor, approved_plan, announced_body, lines=count)
    assert announced.status_code == 201, announced.content

    response = _send(api, approved_plan, announced.json()["id"], body)

    assert (response.status_code, response.json()["error"]) == (status, code), response.content
    assert not BalanceListLine.objects.exists() and not BalanceDifference.objects.exists()
    assert BalanceList.objects.get().status == "awaiting_body"


def test_a_list_is_received_once_and_its_manifest_cannot_be_replayed(
        compared, approved_plan, subcontractor):
    api = make_api(subcontractor, scope="upload")
    body = _csv(_subcontractor_lines())

    again = _send(api, approved_plan, compared["id"], body)

    assert (again.status_code, again.json()["error"]) == (409, "already_received")
    assert BalanceListLine.objects.count() == 6


def test_a_download_reason_holding_a_phone_number_is_refused_and_nothing_is_logged(
        client, officer, compared):
    balance_list = BalanceList.objects.get()
    login_verified(client, officer)

    response = client.post(f"/admin/settlement/balancelist/{balance_list.pk}/report/",
                           {"reason": "010-1234-5678 고객 잔액 문의"})

    assert response.status_code == 200 and "text/csv" not in response["Content-Type"]
    assert "개인정보" in response.content.decode()
    assert not AuditEvent.objects.filter(action="access.download").exists()


def test_a_staff_member_without_a_role_downloads_no_report_and_nothing_is_logged(
        client, clerk, compared, approved_plan):
    """Choi logs in with both factors but holds neither role: the differences report and the
    parties' side-by-side report send her back to the front page, with no external id, and
    the access log records no download."""
    balance_list = BalanceList.objects.get()
    login_verified(client, clerk)

    download = client.post(f"/admin/settlement/balancelist/{balance_list.pk}/report/",
                           {"reason": "재수탁사 잔액 불일치 확인"})
    side_by_side = client.get(f"/admin/settlement/partydeclaration/report/{approved_plan.pk}/")
    listing = client.get("/admin/settlement/balancelist/")

    for refused in (download, side_by_side, listing):
        assert refused.status_code == 403
    for response in (download, side_by_side, listing):
        assert not response.get("Content-Type", "").startswith("text/csv")
        assert b"U-0000002" not in response.content
    assert not AuditEvent.objects.filter(action__startswith="access.").exists()
