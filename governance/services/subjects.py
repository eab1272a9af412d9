"""Data subjects (what each has said for a plan version: `consent_states`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import audit_event
from governance.bulk import subjects_batch_size, subjects_write
from governance.crypto import (
    blind_index,
    brn_hash,
    normalize_phone,
    phone_index,
)
from governance.models import DataSubject, Operator
from governance.services.common import Actor, GovernanceError, acting


@dataclass
class SubjectsUpsertResult:
    created: int = 0
    updated: int = 0
    ids: dict[str, int] = field(default_factory=dict)  # external_id -> DataSubject.pk
    public_ids: dict[str, str] = field(default_factory=dict)  # external_id -> public id


@transaction.atomic
def subjects_upsert(*, operator: Operator, kind: str, rows: Iterable[Mapping[str, Any]],
                    by: Actor, batch_size: int = 2000,
                    known: Mapping[str, tuple[int, str]] | None = None) -> SubjectsUpsertResult:
    """Create or update subjects held by ``operator`` from rows of
    ``{"external_id": ..., "phone": ... (optional), "brn": ... (optional)}``.

    The phone is stored encrypted with its blind index; the business registration number only
    as a keyed hash. A malformed phone or BRN raises ValueError naming the row's external id
    (the caller validates first; this is the last line). One audit event with the counts.
    The rows are written a batch at a time by `governance.bulk.subjects_write` (COPY on
    PostgreSQL, the ORM elsewhere; batches of `subjects_batch_size`). A row without a phone
    (or BRN) leaves an existing subject's stored one as it is. Two transactions creating the
    same subject: the loser raises IntegrityError.

    ``known``: the caller's own `governance.selectors.subjects_known` of every row, made in
    this transaction, so that the PostgreSQL path does not look the subjects up again (an
    upload has just done it to find duplicates). The ORM path loads the subjects it updates.
    """
    if kind not in DataSubject.Kind.values:
        raise GovernanceError(f"unknown subject kind: {kind}")
    result = SubjectsUpsertResult()
    size = subjects_batch_size(batch_size)
    batch: list[Mapping[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            _upsert_batch(operator, kind, batch, result, known)
            batch = []
    if batch:
        _upsert_batch(operator, kind, batch, result, known)
    audit_event(by=acting(by), action="subjects.upserted", target=operator,
                details={"kind": kind, "created": result.created, "updated": result.updated})
    return result


def _prepared(row: Mapping[str, Any]) -> dict[str, Any]:
    external_id = str(row["external_id"]).strip()
    if not external_id:
        raise ValueError("a row has no external_id")
    values: dict[str, Any] = {}
    try:
        if row.get("phone"):
            values["phone"] = phone = normalize_phone(row["phone"])
            values["phone_index"] = blind_index("phone:" + phone)  # = phone_index(raw)
        if row.get("brn"):
            values["brn_hash"] = brn_hash(row["brn"])
    except ValueError as exc:
        raise ValueError(f"row {external_id}: {exc}") from exc
    values["external_id"] = external_id
    return values


def _upsert_batch(operator: Operator, kind: str, rows: list[Mapping[str, Any]],
                  result: SubjectsUpsertResult,
                  known: Mapping[str, tuple[int, str]] | None) -> None:
    prepared = {}
    for row in rows:
        values = _prepared(row)
        prepared[values["external_id"]] = values  # a later row for the same id wins
    written = subjects_write(operator_id=operator.pk, kind=kind, prepared=prepared,
                             now=timezone.now(), known=known)
    result.created += written.created
    result.updated += written.updated
    result.ids.update(written.ids)
    result.public_ids.update(written.public_ids)


def subject_find_by_phone(*, phone: str) -> list[DataSubject]:
    return list(DataSubject.objects.filter(phone_index=phone_index(phone)))
