"""The disposition of every won: moved, refunds, held by reason, and whatever is not in one
of them (unaccounted); in the API for both operators and in the admin's report."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets

import pytest
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.models import DataSubject
from governance.services import (
    Evidence,
    consent_state_early_request,
    consent_state_object,
    notice_evidence_record,
)
from settlement.disposition import Amount, plan_disposition
from settlement.models import RefundCase
from tests.history import notified_long_ago
from tests.settlement.conftest import object_to, refund_for, release_now
from tests.staff import login_verified
from tests.transfers.conftest import make_api, upload_rows
from transfers import synthetic
from transfers.models import Record, ReleaseGroup

pytestmark = pytest.mark.django_db


@pytest.fixture
def mixed(approved_plan, users):
    """Of the six users (1,000-6,000 won): the first objected without asking a refund, the
    second's refund is open, the third's refunded; a release carried the other three."""
    object_to(approved_plan, users[0])
    refund_for(approved_plan, users[1])
    RefundCase.objects.filter(pk=refund_for(approved_plan, users[2]).pk).update(
        status="refunded", refunded_at=timezone.now())
    release = release_now(approved_plan)
    return approved_plan, release


def test_a_clean_plan_accounts_for_every_won(mixed):
    plan, _release = mixed

    d = plan_disposition(plan)

    assert d.accepted == Amount(6, 21_000)
    assert d.moved == Amount(3, 4_000 + 5_000 + 6_000)
    assert d.refund_requested == Amount(1, 2_000) and d.refunded == Amount(1, 3_000)
    assert d.held == {"objected_without_refund": Amount(1, 1_000)}
    assert d.unaccounted == Amount() and d.clean and d.problems == []
    assert d.balance_json()["unaccounted"] == 0


def test_users_not_yet_notified_are_held_for_that_reason(approved_plan):
    upload_rows(approved_plan, list(synthetic.rows("user", 1, 3)))

    d = plan_disposition(approved_plan)

    assert d.held == {"not_notified": Amount(3, 6_000)} and d.unaccounted == Amount()
    assert d.moved == Amount(0, 0) and d.clean


def test_a_planted_missing_won_is_flagged(mixed, users):
    plan, _release = mixed
    Record.objects.filter(plan=plan, subject=users[0]).update(
        certificate_balance=F("certificate_balance") - 1)

    d = plan_disposition(plan)

    assert d.unaccounted == Amount(0, 1) and not d.clean
    assert any("미확인 1원" in p for p in d.problems)


def test_a_lost_record_is_flagged(mixed, users):
    plan, _release = mixed
    Record.objects.filter(plan=plan, subject=users[0]).delete()

    d = plan_disposition(plan)

    assert d.unaccounted == Amount(1, 1_000) and not d.clean


def test_a_refund_of_a_user_who_moved_anyway_shows_as_counted_twice(mixed, users):
    plan, release = mixed
    moved_user = users[5]
    RefundCase.objects.create(plan=plan, lineage=plan.lineage, subject=moved_user,
                              operator=plan.from_operator, amount=6_000, channel="web")

    d = plan_disposition(plan)

    assert d.unaccounted == Amount(-1, -6_000) and not d.clean


def _acknowledge(shinhan, release, balance: int):
    manifest = json.loads(bytes(release.manifest))
    payload = json.dumps({
        "release": str(release.public_id), "manifest_sha256": release.manifest_sha256,
        "nonce": secrets.token_urlsafe(16), "signed_at": timezone.now().isoformat(),
        "totals": {"records": manifest["counts"]["records"],
                   "subjects": manifest["counts"]["subjects"],
                   "fields": manifest["counts"]["fields"],
                   "certificate_balance_sum": balance}}).encode()
    from transfers.services import acknowledgement_receive

    acknowledgement_receive(release=release, payload_b64=base64.b64encode(payload).decode(),
                            signature_b64=base64.b64encode(
                                shinhan.signing_private_key.sign(payload)).decode(),
                            by=("operator", "operator:SHINHAN"))


def test_release_against_acknowledgement_names_a_difference(mixed, incoming_operator):
    plan, release = mixed
    assert plan_disposition(plan).releases[0].state == "unacknowledged"

    _acknowledge(incoming_operator, release, 15_000 - 500)

    line = plan_disposition(plan).releases[0]
    assert (line.state, line.released.won, line.acknowledged.won, line.difference) == (
        "differs", 15_000, 14_500, 500)
    assert any("수령 확인" in p for p in plan_disposition(plan).problems)


def test_both_operators_read_the_reconciliation_and_nobody_else(
        mixed, outgoing_operator, incoming_operator, unrelated_operator):
    plan, _release = mixed
    url = f"/api/plans/{plan.pk}/reconciliation"

    source = make_api(outgoing_operator, scope="upload").get(url)
    recipient = make_api(incoming_operator, scope="release:read").get(url)

    assert source.status_code == recipient.status_code == 200, source.content
    assert source.json()["balance"] == recipient.json()["balance"]
    balance = source.json()["balance"]
    assert {k: v for k, v in balance.items() if k != "detail"} == {
        "accepted": 21_000, "moved": 15_000, "refund_requested": 2_000, "refunded": 3_000,
        "held": {"objected_without_refund": 1_000}, "unaccounted": 0}
    assert balance["detail"]["moved"] == {"count": 3, "won": 15_000}
    assert source.json()["clean"] is True
    assert source.json()["releases"][0]["state"] == "unacknowledged"
    assert make_api(outgoing_operator, scope="release:read").get(url).status_code == 403
    assert make_api(incoming_operator, scope="upload").get(url).status_code == 403
    other = make_api(unrelated_operator).get(url)
    assert (other.status_code, other.json()["error"]) == (404, "not_found")


def test_the_admin_report_shows_the_disposition_with_its_chart(client, officer, mixed):
    plan, _release = mixed
    login_verified(client, officer)

    reconciliation = client.get(f"/admin/transfers/release/reconciliation/{plan.pk}/")
    report = client.get(f"/admin/settlement/refundcase/disposition/{plan.pk}/")

    assert f"/admin/settlement/refundcase/disposition/{plan.pk}/" in (
        reconciliation.content.decode())
    html = report.content.decode()
    assert report.status_code == 200
    assert '<svg id="disposition-chart"' in html
    # Drawn here, loaded from nowhere else. (The page's random CSRF token may spell "cdn":
    # only what the page loads is checked.)
    loaded = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert not [url for url in loaded
                if "cdn" in url.lower() or url.startswith(("http:", "https:", "//"))]
    assert "15,000" in html and "모든 원이 처리 내역에 있습니다" in html
    assert 'data-kind="unaccounted"' not in html


# --- Property: whatever the mix, the parts add up to what was accepted ----------------------


class _Rollback(Exception):
    pass


USERS = 6
# Per user: how long ago the notice reached them (None: never), an early request, and what
# they did: nothing, objected, objected and asked a refund, objected and was refunded.
USER_STORY = st.tuples(st.sampled_from([None, 3, 31]), st.booleans(),
                       st.sampled_from(["nothing", "objected", "refund", "refunded"]))


@pytest.fixture
def uploaded_users(approved_plan):
    upload_rows(approved_plan, list(synthetic.rows("user", 1, USERS)))
    notified_long_ago(approved_plan, subjects=[], days=40)  # approved 41 days ago
    return approved_plan, list(DataSubject.objects.filter(kind="user").order_by("id"))


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(stories=st.tuples(*[USER_STORY] * USERS), release_first=st.booleans())
def test_the_disposition_sums_to_the_accepted_balance_for_any_mix(uploaded_users, stories,
                                                                  release_first):
    plan, users = uploaded_users
    try:
        with transaction.atomic():
            _check(plan, users, stories, release_first)
            raise _Rollback
    except _Rollback:
        pass


def _check(plan, users, stories, release_first):
    now = timezone.now()
    if release_first:  # a first release before anyone acted: early movers and elapsed ones
        for user, (days, early, _action) in zip(users, stories, strict=True):
            _notice(plan, user, days, early, now)
        release_now(plan)
    for user, (days, early, action) in zip(users, stories, strict=True):
        if not release_first:
            _notice(plan, user, days, early, now)
        if action == "nothing":
            continue
        consent_state_object(plan=plan, subject=user, objected_at=now)
        if action in ("refund", "refunded"):
            try:
                case = refund_for(plan, user)
            except Exception as exc:  # noqa: BLE001 - refused because it already moved
                assert getattr(exc, "code", "") == "already_moved"
                continue
            if action == "refunded":
                RefundCase.objects.filter(pk=case.pk).update(status="refunded",
                                                             refunded_at=now)
    release = release_now(plan)

    d = plan_disposition(plan)

    assert d.accepted.won == sum(synthetic.user_row(i)["user.certificate_balance"]
                                 for i in range(1, USERS + 1))
    assert d.accounted == d.accepted and d.unaccounted == Amount() and d.clean, d.problems
    carried = {sid for packed, fields in ReleaseGroup.objects.filter(
        release__plan=plan).values_list("subject_ids", "fields")
        if "user.certificate_balance" in fields for sid in ReleaseGroup.unpack_ids(packed)}
    assert d.moved.count == len(carried)
    assert not carried & set(RefundCase.objects.values_list("subject_id", flat=True))
    assert release.status == "ready"


def _notice(plan, user, days, early, now):
    if days is not None:
        notice_evidence_record(plan=plan, by=None, evidence=[
            Evidence(user, "lms", now - dt.timedelta(days=days), f"lms-{user.pk}-{days}")])
    if early:
        consent_state_early_request(plan=plan, subject=user,
                                    requested_at=now - dt.timedelta(minutes=1))


def test_a_rehearsals_incremental_releases_all_count_as_moved(approved_plan):
    from governance.models import TransferPlan

    TransferPlan.objects.filter(pk=approved_plan.pk).update(rehearsal=True)  # drafted so
    approved_plan.refresh_from_db()
    upload_rows(approved_plan, list(synthetic.rows("user", 1, 6)))
    users = list(DataSubject.objects.filter(kind="user").order_by("id"))
    notified_long_ago(approved_plan, subjects=users[:3])
    first = release_now(approved_plan)
    notified_long_ago(approved_plan, subjects=users[3:])
    second = release_now(approved_plan)

    d = plan_disposition(approved_plan)

    assert first.rehearsal and second.rehearsal
    assert d.moved == Amount(6, 21_000) and d.unaccounted == Amount() and d.clean
    assert [r.released.won for r in d.releases] == [6_000, 15_000]


def test_a_staff_member_without_a_role_is_refused_the_disposition_report(
        client, clerk, mixed):
    """Choi logs in with both factors but holds neither role: the report of where every won
    went is refused (403, as the admin's own pages refuse her), with no amount shown."""
    plan, _release = mixed
    login_verified(client, clerk)

    report = client.get(f"/admin/settlement/refundcase/disposition/{plan.pk}/")

    assert report.status_code == 403
    assert b"15,000" not in report.content and b"disposition-chart" not in report.content
