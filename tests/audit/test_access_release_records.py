"""A release's records page (the operator API's JSON pages, decrypted values in the clear)
writes exactly one access entry per page: the recipient, the subjects on that page and the
fields it carried."""

from __future__ import annotations

import json

import pytest

from audit.models import AuditEvent
from tests.transfers.conftest import *  # noqa: F403  (the operators' API clients, an upload)
from transfers.services import release_export, release_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def release(approved_plan, uploaded, incoming_operator):
    release = release_request(plan=approved_plan, by=("operator", "operator:SHINHAN"))
    return release_export(release_id=release.pk)


def test_each_records_page_writes_one_decrypt_entry_naming_its_subjects(shinhan_api,
                                                                        release):
    page = shinhan_api.get(f"/api/releases/{release.public_id}/records", limit=4).json()

    [entry] = AuditEvent.objects.filter(action__startswith="access.")
    assert (entry.action, entry.actor_id, entry.target_type, entry.target_id) == (
        "access.decrypt", "operator:SHINHAN", "transfers.release", str(release.public_id))
    assert entry.details["subjects"] == [r["subject"] for r in page["records"]]
    assert entry.details["fields"] == sorted({k for r in page["records"] for k in r["fields"]})
    assert entry.details["ip"] == "127.0.0.1" and entry.details["cursor"] == 0
    values = [str(v) for r in page["records"] for v in r["fields"].values() if v]
    assert values and not any(v in json.dumps(entry.details) for v in values if len(v) > 3)

    shinhan_api.get(f"/api/releases/{release.public_id}/records", limit=4,
                    cursor=page["next_cursor"])
    assert AuditEvent.objects.filter(action="access.decrypt").count() == 2


def test_an_unrelated_operator_reads_no_records_page_and_nothing_is_logged(bizplay_api,
                                                                          release):
    """Bizplay, party to nothing here, asks for the release's records: 404 without a record
    in it, and no decrypt entry, since nothing was decrypted."""
    response = bizplay_api.get(f"/api/releases/{release.public_id}/records", limit=4)

    assert (response.status_code, response.json()["error"]) == (404, "not_found")
    assert b"fields" not in response.content and b"U-0000" not in response.content
    assert not AuditEvent.objects.filter(action__startswith="access.").exists()
