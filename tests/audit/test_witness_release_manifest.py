"""A release's signed manifest names the newest checkpoint the witnesses co-signed, so the
recipient can look its release's history up in the commission's copy of the log."""

from __future__ import annotations

import base64
import json

from audit.models import AuditEvent, Checkpoint, WitnessCosignature
from tests.transfers.conftest import upload_rows
from transfers import synthetic
from transfers.services import release_export, release_request


def test_the_release_manifest_names_the_newest_witnessed_checkpoint(
        commission_witness, approved_plan):
    upload_rows(approved_plan, [synthetic.merchant_row(i) for i in range(1, 4)])
    requested = release_request(plan=approved_plan, by=("operator", "operator:SHINHAN"))
    release = release_export(release_id=requested.pk)
    manifest = json.loads(bytes(release.manifest))
    # The request was logged, sealed and co-signed before the export began: the manifest
    # names the checkpoint that covers it.
    asked = AuditEvent.objects.get(action="release.requested", target_id=str(release.pk))
    checkpoint = Checkpoint.objects.get(size=asked.seq + 1)
    assert manifest["audit_checkpoint"] == {
        "size": asked.seq + 1,
        "root": base64.b64encode(bytes.fromhex(checkpoint.root_hash)).decode(),
        "witnessed_by": [commission_witness.name]}
    assert WitnessCosignature.objects.filter(checkpoint=checkpoint).exists()
