"""audit_record: written in the caller's transaction, refuses personal data."""

from __future__ import annotations

import pytest
from django.db import transaction

from audit.models import AuditEvent
from audit.services import PersonalDataInAuditDetails, audit_record


def _record(**overrides):
    kwargs = {"actor_type": "officer", "actor_id": "user:1", "action": "plan.approved",
              "target_type": "transfer_plan", "target_id": 7, "details": {"version": 2}}
    kwargs.update(overrides)
    return audit_record(**kwargs)


def test_it_records_an_event_that_rolls_back_with_the_callers_transaction(db):
    with pytest.raises(RuntimeError), transaction.atomic():
        _record()
        raise RuntimeError("the business change failed")
    assert not AuditEvent.objects.exists()
    event = _record()
    assert AuditEvent.objects.get().pk == event.pk
    assert event.target_id == "7" and event.seq is None


@pytest.mark.parametrize("details", [
    {"phone": "x"},
    {"Name": "홍길동"},
    {"contact": "010-1234-5678"},
    {"contact": "+82 10 1234 5678"},
    {"contact": "01012345678"},
    {"office": "02-123-4567"},
    {"brn": "hash"},
    {"merchant": {"registration": "123-45-67890"}},
    {"list": ["ok", "someone@example.com"]},
])
def test_it_refuses_details_that_look_like_personal_data(db, details):
    with pytest.raises(PersonalDataInAuditDetails):
        _record(details=details)
    assert not AuditEvent.objects.exists()


def test_it_refuses_an_actor_id_that_is_a_phone_number(db):
    with pytest.raises(PersonalDataInAuditDetails, match="actor_id"):
        _record(actor_id="010-1234-5678")


def test_it_accepts_ids_counts_and_hashes(db):
    digest = "01012345678" + "ab" * 26
    event = _record(details={"count": 1234567890, "sha256": "ab" + digest,
                             "fields": ["merchant.representative_phone"], "plan": "P-2026-01"})
    assert event.details["count"] == 1234567890


def test_a_uuid_whose_hex_groups_read_like_a_phone_number_is_still_an_id(db):
    lineage = "5a187b29-8216-4394-8546-50a589e977eb"  # "8216-4394-8546": +82 16 4394 8546
    event = _record(target_id=lineage, details={"lineage": lineage, "ids": [lineage.upper()]})
    assert event.details["lineage"] == lineage
    with pytest.raises(PersonalDataInAuditDetails):  # a phone beside a UUID is still caught
        _record(details={"note": f"{lineage} 010-1234-5678"})


def test_it_refuses_an_unknown_actor_type(db):
    with pytest.raises(ValueError):
        _record(actor_type="hacker")
