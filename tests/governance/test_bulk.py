"""governance.bulk: each fast path gives what its docstring promises, on either database."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from governance.bulk import (
    EncryptedTable,
    ascending_subject_ids_split,
    encrypted_rows_count,
    encrypted_rows_rotate,
    id_in,
    streamed,
    subjects_known_by_external_id,
    subjects_write,
)
from governance.crypto import decrypt_text
from governance.models import DataSubject, SubjectNotice

pytestmark = pytest.mark.django_db

KIND = "merchant"


def _write(operator, *rows: dict, known=None):
    prepared = {row["external_id"]: row for row in rows}
    return subjects_write(operator_id=operator.pk, kind=KIND, prepared=prepared,
                          now=timezone.now(), known=known)


def test_subjects_write_creates_then_updates_only_the_columns_it_is_given(outgoing_operator):
    kepf = outgoing_operator.operator
    first = _write(kepf, {"external_id": "M-1", "phone": "+821000000001", "phone_index": "a1",
                          "brn_hash": "b1"},
                   {"external_id": "M\\2\tx"})
    assert (first.created, first.updated) == (2, 0)
    assert set(first.ids) == set(first.public_ids) == {"M-1", "M\\2\tx"}

    again = _write(kepf, {"external_id": "M-1", "brn_hash": "b9"}, {"external_id": "M-3"})

    assert (again.created, again.updated) == (1, 1)
    assert again.ids["M-1"] == first.ids["M-1"]
    assert again.public_ids["M-1"] == first.public_ids["M-1"]
    m1 = DataSubject.objects.get(pk=first.ids["M-1"])
    assert (m1.phone, m1.phone_index, m1.brn_hash) == ("+821000000001", "a1", "b9")
    odd = DataSubject.objects.get(pk=first.ids["M\\2\tx"])
    assert odd.external_id == "M\\2\tx" and odd.public_id == first.public_ids["M\\2\tx"]
    assert DataSubject.objects.filter(source_operator=kepf, kind=KIND).count() == 3


def test_subjects_write_takes_the_callers_lookup_of_known_subjects(outgoing_operator):
    kepf = outgoing_operator.operator
    first = _write(kepf, {"external_id": "M-1"})
    known = subjects_known_by_external_id(operator_id=kepf.pk, kind=KIND,
                                          external_ids=["M-1", "M-2"])
    assert known == {"M-1": (first.ids["M-1"], first.public_ids["M-1"])}

    again = _write(kepf, {"external_id": "M-1", "phone": "+821000000001", "phone_index": "i1"},
                   {"external_id": "M-2"}, known=known)

    assert (again.created, again.updated) == (1, 1)
    m1 = DataSubject.objects.get(pk=first.ids["M-1"])
    assert (m1.phone, m1.phone_index) == ("+821000000001", "i1")


def test_the_known_subjects_are_only_the_operators_own_of_that_kind(
        outgoing_operator, unrelated_operator):
    _write(outgoing_operator.operator, {"external_id": "M-1"})
    _write(unrelated_operator.operator, {"external_id": "M-2"})
    external_ids = [f"M-{i}" for i in range(12_000)]  # more than one ORM chunk

    found = subjects_known_by_external_id(operator_id=outgoing_operator.operator.pk,
                                          kind=KIND, external_ids=external_ids)

    assert set(found) == {"M-1"}
    assert subjects_known_by_external_id(operator_id=outgoing_operator.operator.pk,
                                         kind="user", external_ids=["M-1"]) == {}


def test_streamed_yields_exactly_what_the_querysets_iterator_does(outgoing_operator):
    written = _write(outgoing_operator.operator,
                     *({"external_id": f"M-{i}", "brn_hash": f"b{i}"} for i in range(7)))
    rows = (DataSubject.objects.filter(pk__in=list(written.ids.values()))
            .order_by("-id").values_list("id", "external_id", "brn_hash", "updated_at"))

    assert list(streamed(rows, 3)) == list(rows.iterator())


def test_an_id_in_value_selects_the_same_rows_as_the_list(outgoing_operator):
    written = _write(outgoing_operator.operator,
                     *({"external_id": f"M-{i}"} for i in range(5)))
    ids = sorted(written.ids.values())[1:4]

    chosen = DataSubject.objects.filter(id__in=id_in(ids)).order_by("id")

    assert list(chosen.values_list("id", flat=True)) == ids


def test_ascending_subject_ids_split_are_those_of_the_notices_in_order(approved_plan,
                                                                        outgoing_operator):
    written = _write(outgoing_operator.operator,
                     *({"external_id": f"M-{i}"} for i in range(8)))
    ids = sorted(written.ids.values())
    at = timezone.now() - dt.timedelta(days=1)
    # Written out of order, two at the very edge (at, and a microsecond after it).
    for pk, notified_at in ((ids[5], at + dt.timedelta(hours=1)), (ids[3], at),
                            (ids[0], at - dt.timedelta(days=2)),
                            (ids[4], at + dt.timedelta(microseconds=1)), (ids[1], at)):
        SubjectNotice.objects.create(lineage=approved_plan.lineage, subject_id=pk,
                                     notified_at=notified_at, channel="lms")
    notices = SubjectNotice.objects.filter(lineage=approved_plan.lineage)

    up_to, after = ascending_subject_ids_split(notices, at)

    assert up_to.typecode == after.typecode == "q"
    assert (list(up_to), list(after)) == ([ids[0], ids[1], ids[3]], [ids[4], ids[5]])
    assert [list(part) for part in ascending_subject_ids_split(notices.none(), at)] == [[], []]


def test_rotating_rewrites_every_non_empty_value_and_counts_the_rows(outgoing_operator):
    _write(outgoing_operator.operator,
           *({"external_id": f"M-{i}", "phone": f"+8210000000{i:02d}"} for i in range(5)),
           {"external_id": "M-none"})
    table = EncryptedTable(DataSubject._meta.db_table, "id", ("phone",))
    assert encrypted_rows_count([table]) == 5
    seen: list[str] = []
    progress: list[int] = []

    def rewrite(token: str) -> str:
        seen.append(decrypt_text(token))
        return token

    rewritten = encrypted_rows_rotate(table, rewrite=rewrite, batch_size=2,
                                      on_progress=progress.append)

    assert rewritten == 5 and sum(progress) == 5
    assert sorted(seen) == [f"+8210000000{i:02d}" for i in range(5)]
