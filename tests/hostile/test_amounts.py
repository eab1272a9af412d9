"""Issue 13 item 1: money without a bound. Rows with amounts past any sane bound are rejected
rows (invalid_amount), and afterwards everything that reads the upload still answers: the
upload, the release request and its export, the reconciliation report and the dashboard."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from tests.hostile.conftest import make_sender
from tests.hostile.corpus import line, row_merchant, row_user
from transfers import synthetic
from transfers.models import Record, Release

pytestmark = pytest.mark.django_db

BALANCE = "user.certificate_balance"
RISK = "merchant.internal_risk_score"


def _admin_client(user) -> Client:
    """An officer's browser in the admin, logged in as the admin requires."""
    client = Client()
    try:
        from tests.staff import login_verified  # the admin asks for a second factor
    except ImportError:  # a tree from before the second factor: a password session will do
        client.force_login(user)
        return client
    return login_verified(client, user)


def test_amounts_past_any_bound_are_rejected_and_every_later_page_still_answers(
        world, django_capture_on_commit_callbacks):
    send = make_sender(world)
    good_user, good_merchant = synthetic.user_row(900), synthetic.merchant_row(900)
    body = b"".join([
        line(good_user),
        line(row_user(external_id="U-0000901", **{BALANCE: 2**63 - 1})),
        line(row_user(external_id="U-0000902", **{BALANCE: 2**63})),
        line(good_merchant),
        line(row_merchant(external_id="M-0000903", **{RISK: 2**63})),
    ])
    created = send("POST", f"/api/plans/{world.plan_id}/uploads", body=b"{}",
                   content_type="application/json")
    assert created.status_code == 201, created.content
    upload_id = created.json()["id"]
    records_before = Record.objects.count()

    report = send("PUT", f"/api/uploads/{upload_id}/batches/amounts", body=body,
                  content_type="application/x-ndjson")

    assert report.status_code == 201, report.content[:500]
    rejections = {(r["line"], r["field"], r["code"]) for r in report.json()["rejections"]}
    assert rejections == {(2, BALANCE, "invalid_amount"), (3, BALANCE, "invalid_amount"),
                          (5, RISK, "invalid_amount")}
    assert Record.objects.count() == records_before + 2

    upload = send("GET", f"/api/uploads/{upload_id}")
    assert upload.status_code == 200, upload.content[:500]
    assert upload.json()["accepted_totals"]["certificate_balance_sum"] == good_user[BALANCE]
    done = send("POST", f"/api/uploads/{upload_id}/complete", body=b"{}",
                content_type="application/json")
    assert done.status_code == 200, done.content[:500]

    with django_capture_on_commit_callbacks(execute=True):
        requested = send("POST", f"/api/plans/{world.plan_id}/releases", who="recipient")
    assert requested.status_code == 202, requested.content[:500]
    release = send("GET", f"/api/releases/{requested.json()['id']}", who="recipient")
    assert release.status_code == 200, release.content[:500]
    assert release.json()["status"] == Release.Status.READY
    records = send("GET", f"/api/releases/{requested.json()['id']}/records", who="recipient")
    assert records.status_code == 200, records.content[:500]

    officer = _admin_client(get_user_model().objects.get(username="hostile-kim"))
    reconciliation = officer.get(reverse("admin:transfers_release_reconciliation",
                                         args=[world.plan_id]))
    assert reconciliation.status_code == 200
    assert officer.get("/admin/dashboard/").status_code == 200
