"""What officers (and the commission's reviewer) see in the admin."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets

import pytest
from django.urls import reverse
from django.utils import timezone

from governance.models import DataSubject
from governance.services import subject_consent_state_set
from tests.history import notified_long_ago
from tests.staff import login_verified
from tests.transfers.conftest import upload_rows
from transfers import synthetic
from transfers.models import DeletionNotice, Upload, UploadBatch
from transfers.services import (
    acknowledgement_receive,
    deletions_detect,
    release_export,
    release_request,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def acknowledged_with_a_planted_mismatch(approved_plan, incoming_operator):
    rows = list(synthetic.rows("user", 1, 4)) + [synthetic.user_row(5) | {"user.phone": "1"}]
    upload_rows(approved_plan, rows, declared={"subjects": {"user": 4}})
    notified_long_ago(approved_plan)
    release = release_request(plan=approved_plan, by=("operator", "operator:SHINHAN"))
    release = release_export(release_id=release.pk)
    manifest = json.loads(bytes(release.manifest))
    totals = {"records": 4, "subjects": manifest["counts"]["subjects"],
              "fields": manifest["counts"]["fields"],
              "certificate_balance_sum":
                  manifest["control_totals"]["certificate_balance_sum"] + 500}
    payload = json.dumps({"release": str(release.public_id),
                          "manifest_sha256": release.manifest_sha256,
                          "nonce": secrets.token_urlsafe(16),
                          "signed_at": timezone.now().isoformat(), "totals": totals}).encode()
    acknowledgement_receive(
        release=release, payload_b64=base64.b64encode(payload).decode(),
        signature_b64=base64.b64encode(incoming_operator.signing_private_key.sign(payload))
        .decode(), by=("operator", "operator:SHINHAN"))
    return release


def test_the_reconciliation_report_highlights_the_mismatch(
        client, officer, approved_plan, acknowledged_with_a_planted_mismatch):
    login_verified(client, officer)
    page = client.get(reverse("admin:transfers_release_reconciliation",
                              args=[approved_plan.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'class="mismatch" data-metric="certificate_balance_sum"' in html
    assert 'class="mismatch" data-metric="subjects.user"' not in html
    assert "released ≠ acknowledged" in html
    assert "invalid_phone" in html  # the rejected row, by line and code


def test_the_upload_page_shows_the_rejection_report_without_the_values(
        client, officer, acknowledged_with_a_planted_mismatch):
    login_verified(client, officer)
    batch = UploadBatch.objects.get()
    html = client.get(reverse("admin:transfers_uploadbatch_change", args=[batch.pk])
                      ).content.decode()
    assert "invalid_phone" in html and "user.phone" in html
    upload = Upload.objects.get()
    html = client.get(reverse("admin:transfers_upload_change", args=[upload.pk])).content.decode()
    assert "거부 행 1" in html


def test_unconfirmed_deletions_are_visible_to_the_commission_reviewer(
        client, commission_reviewer, approved_plan, acknowledged_with_a_planted_mismatch):
    user = DataSubject.objects.get(external_id="U-0000002")
    subject_consent_state_set(plan=approved_plan, subject=user, objected=True,
                              answered_at=timezone.now())
    deletions_detect(plan=approved_plan)
    login_verified(client, commission_reviewer)
    page = client.get(reverse("admin:transfers_deletionnotice_changelist") + "?confirmed=no")
    assert page.status_code == 200
    html = page.content.decode()
    assert user.public_id in html and "미확인 (unconfirmed)" in html
    assert "(1시간 미만)" in html  # how long the recipient has left it unconfirmed
    DeletionNotice.objects.update(created_at=timezone.now() - dt.timedelta(days=3, hours=2))
    html = client.get(reverse("admin:transfers_deletionnotice_changelist")).content.decode()
    assert "(3일 경과)" in html
    release_page = client.get(reverse("admin:transfers_release_changelist"))
    assert release_page.status_code == 200 and "불일치 1건" in release_page.content.decode()


def test_a_staff_member_without_a_role_sees_no_release_upload_or_reconciliation(
        client, clerk, approved_plan, acknowledged_with_a_planted_mismatch):
    """Choi logs in with both factors but holds neither role: the reconciliation and every
    list and page of releases, uploads and deletions is refused (403) without a record, a
    total or a plan name in it."""
    release = acknowledged_with_a_planted_mismatch
    login_verified(client, clerk)

    reconciliation = client.get(reverse("admin:transfers_release_reconciliation",
                                        args=[approved_plan.pk]))
    pages = [reconciliation, client.get(reverse("admin:transfers_release_changelist")),
             client.get(reverse("admin:transfers_release_change", args=[release.pk])),
             client.get(reverse("admin:transfers_upload_changelist")),
             client.get(reverse("admin:transfers_acknowledgement_changelist")),
             client.get(reverse("admin:transfers_deletionnotice_changelist"))]

    for page in pages:
        assert page.status_code == 403
        body = page.content.decode()
        assert approved_plan.title not in body and str(release.public_id) not in body
