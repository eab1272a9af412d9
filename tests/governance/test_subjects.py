"""subjects_upsert: the outgoing operator's subjects, created or updated in bulk."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from governance.crypto import brn_hash, phone_index
from governance.models import DataSubject
from governance.seoul import synthetic_brn, synthetic_phone
from governance.services import subjects_upsert

pytestmark = pytest.mark.django_db


def test_it_creates_then_updates_subjects_by_their_external_id(outgoing_operator):
    kepf = outgoing_operator.operator
    first = subjects_upsert(operator=kepf, kind="merchant", by=("operator", "operator:KEPF"),
                            rows=[{"external_id": "M-1", "phone": synthetic_phone(1),
                                   "brn": synthetic_brn(1)},
                                  {"external_id": "M-2"}])
    assert (first.created, first.updated) == (2, 0)
    again = subjects_upsert(operator=kepf, kind="merchant", by=None, batch_size=1,
                            rows=[{"external_id": "M-2", "phone": synthetic_phone(22)},
                                  {"external_id": "M-3"}])
    assert (again.created, again.updated) == (1, 1)
    assert again.ids["M-2"] == first.ids["M-2"]
    m2 = DataSubject.objects.get(external_id="M-2")
    assert m2.phone == "+821000000022" and m2.phone_index == phone_index(synthetic_phone(22))
    assert DataSubject.objects.get(external_id="M-1").brn_hash == brn_hash(synthetic_brn(1))
    events = AuditEvent.objects.filter(action="subjects.upserted").order_by("id")
    assert [e.details for e in events] == [
        {"kind": "merchant", "created": 2, "updated": 0},
        {"kind": "merchant", "created": 1, "updated": 1}]
    assert events[0].actor_id == "operator:KEPF"


def test_a_malformed_business_number_is_refused_and_nothing_is_written(outgoing_operator):
    with pytest.raises(ValueError, match="row M-9"):
        subjects_upsert(operator=outgoing_operator.operator, kind="merchant", by=None,
                        rows=[{"external_id": "M-8", "brn": synthetic_brn(8)},
                              {"external_id": "M-9", "brn": "900-00-00002"}])
    assert not DataSubject.objects.filter(external_id__in=["M-8", "M-9"]).exists()


def test_an_update_without_a_phone_keeps_the_stored_one_and_odd_external_ids_survive(
        outgoing_operator):
    kepf = outgoing_operator.operator
    odd = "M\\1\tx\ny"
    first = subjects_upsert(operator=kepf, kind="merchant", by=None,
                            rows=[{"external_id": "M-1", "phone": synthetic_phone(1),
                                   "brn": synthetic_brn(1)},
                                  {"external_id": odd, "phone": synthetic_phone(2)}])
    assert (first.created, first.updated) == (2, 0)
    again = subjects_upsert(operator=kepf, kind="merchant", by=None,
                            rows=[{"external_id": "M-1", "brn": synthetic_brn(3)},
                                  {"external_id": odd, "phone": synthetic_phone(4)},
                                  {"external_id": "M-5"}])
    assert (again.created, again.updated) == (1, 2)
    assert again.ids["M-1"] == first.ids["M-1"] and again.ids[odd] == first.ids[odd]
    m1 = DataSubject.objects.get(pk=first.ids["M-1"])
    assert m1.phone == "+821000000001" and m1.phone_index == phone_index(synthetic_phone(1))
    assert m1.brn_hash == brn_hash(synthetic_brn(3))
    stored_odd = DataSubject.objects.get(pk=first.ids[odd])
    assert stored_odd.external_id == odd and stored_odd.phone == "+821000000004"
    m5 = DataSubject.objects.get(pk=again.ids["M-5"])
    assert (m5.phone, m5.phone_index, m5.brn_hash, m5.kind) == ("", "", "", "merchant")
    assert len({s.public_id for s in DataSubject.objects.all()}) == 3
