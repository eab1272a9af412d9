"""Reads of data subjects by an operator's external ids, and whether a plan's notice reached
them."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Exists, OuterRef

from governance.bulk import subjects_known_by_external_id
from governance.models import DataSubject, SubjectNotice, TransferPlan


def subjects_known(*, operator_id: int, kind: str, external_ids: list[str]
                   ) -> dict[str, tuple[int, str]]:
    """External id -> (subject id, public id) for those of ``external_ids`` that ``operator``
    already holds as subjects of ``kind`` (`governance.bulk.subjects_known_by_external_id`:
    one array lookup on PostgreSQL, chunks elsewhere)."""
    return subjects_known_by_external_id(operator_id=operator_id, kind=kind,
                                         external_ids=external_ids)


def subjects_by_external_id(*, operator_id: int, kinds: Iterable[str], external_ids: list[str]
                            ) -> dict[str, list[DataSubject]]:
    """External id -> the subjects of ``kinds`` that ``operator`` holds under it (one per kind
    at most), for those of ``external_ids`` it holds; looked up 5,000 at a time."""
    found: dict[str, list[DataSubject]] = {}
    for start in range(0, len(external_ids), 5000):
        for subject in (DataSubject.objects
                        .filter(source_operator_id=operator_id, kind__in=list(kinds),
                                external_id__in=external_ids[start:start + 5000])
                        .only("id", "public_id", "kind", "external_id", "source_operator_id")
                        .order_by("id")):
            found.setdefault(subject.external_id, []).append(subject)
    return found


def subject_notified(plan: TransferPlan, subject_ref: str = "pk") -> Exists:
    """Whether evidence shows that the Art. 27 notice of ``plan``'s lineage reached the
    subject whose id is ``subject_ref`` of the outer query: a filter for another app's
    querysets (``.exclude(subject_notified(plan, "subject_id"))``)."""
    return Exists(SubjectNotice.objects.filter(lineage=plan.lineage,
                                               subject_id=OuterRef(subject_ref)))
