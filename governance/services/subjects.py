"""Data subjects, and what each has said for a plan version (kept current by consent)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from governance.crypto import (
    blind_index,
    brn_hash,
    bulk_encrypter,
    normalize_phone,
    phone_index,
)
from governance.models import (
    DataSubject,
    FieldRule,
    Operator,
    SubjectConsentState,
    TransferPlan,
    new_public_id,
)
from governance.selectors import subjects_known
from governance.services.common import Actor, GovernanceError, record


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
    On PostgreSQL new subjects are written with COPY (ids taken from the sequence first) and
    existing ones updated by one UPDATE per batch; elsewhere through the ORM. A row without a
    phone (or BRN) leaves an existing subject's stored one as it is, on both paths. Two
    transactions creating the same subject: the loser raises IntegrityError.

    ``known``: the caller's own `governance.selectors.subjects_known` of every row, made in
    this transaction, so that the PostgreSQL path does not look the subjects up again (an
    upload has just done it to find duplicates). The ORM path loads the subjects it updates.
    """
    if kind not in DataSubject.Kind.values:
        raise GovernanceError(f"unknown subject kind: {kind}")
    result = SubjectsUpsertResult()
    def upsert(batch: list[Mapping[str, Any]]) -> None:
        if connection.vendor == "postgresql":
            _upsert_batch_copy(operator, kind, batch, result, known)
        else:
            _upsert_batch(operator, kind, batch, result)

    if connection.vendor == "postgresql":
        batch_size = max(batch_size, 50_000)
    batch: list[Mapping[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= batch_size:
            upsert(batch)
            batch = []
    if batch:
        upsert(batch)
    record(by, "subjects.upserted", operator,
           {"kind": kind, "created": result.created, "updated": result.updated})
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
                  result: SubjectsUpsertResult) -> None:
    prepared = {}
    for row in rows:
        values = _prepared(row)
        prepared[values["external_id"]] = values  # a later row for the same id wins
    existing = {s.external_id: s for s in DataSubject.objects.filter(
        source_operator=operator, kind=kind, external_id__in=list(prepared)).defer("phone")}
    result.public_ids.update((s.external_id, s.public_id) for s in existing.values())
    now = timezone.now()
    to_create, to_update, update_fields = [], [], {"updated_at"}
    for external_id, values in prepared.items():
        subject = existing.get(external_id)
        if subject is None:
            to_create.append(DataSubject(source_operator=operator, kind=kind, created_at=now,
                                         updated_at=now, **values))
            continue
        for name, value in values.items():
            if name != "external_id":
                setattr(subject, name, value)
                update_fields.add(name)
        subject.updated_at = now
        to_update.append(subject)
    DataSubject.objects.bulk_create(to_create, batch_size=1000)
    if to_update:
        DataSubject.objects.bulk_update(to_update, sorted(update_fields), batch_size=1000)
    result.created += len(to_create)
    result.updated += len(to_update)
    if to_create:
        created = DataSubject.objects.filter(
            source_operator=operator, kind=kind,
            external_id__in=[s.external_id for s in to_create]).values_list(
                "external_id", "id", "public_id")
        for external_id, pk, public_id in created:
            result.ids[external_id], result.public_ids[external_id] = pk, public_id
    result.ids.update({s.external_id: s.pk for s in to_update})


_UPDATE_FROM_ARRAYS = f"""
    UPDATE {DataSubject._meta.db_table} AS s SET
        phone = CASE WHEN i.has_phone THEN i.phone ELSE s.phone END,
        phone_index = CASE WHEN i.has_phone THEN i.phone_index ELSE s.phone_index END,
        brn_hash = CASE WHEN i.has_brn THEN i.brn_hash ELSE s.brn_hash END,
        updated_at = %s
    FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::bool[], %s::bool[])
        AS i(id, phone, phone_index, brn_hash, has_phone, has_brn)
    WHERE s.id = i.id"""  # noqa: S608


def _copy_escape(text: str) -> str:
    """A value as COPY text format wants it (backslash, tab, newline, carriage return)."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                .replace("\r", "\\r"))
    return text


def _upsert_batch_copy(operator: Operator, kind: str, rows: list[Mapping[str, Any]],
                       result: SubjectsUpsertResult,
                       known: Mapping[str, tuple[int, str]] | None) -> None:
    """PostgreSQL: look the batch's subjects up by external id (one indexed query, unless the
    caller did), UPDATE the known ones from arrays, COPY the new ones with ids drawn from the
    sequence beforehand."""
    prepared = {}
    for row in rows:
        values = _prepared(row)
        prepared[values["external_id"]] = values  # a later row for the same id wins
    table = DataSubject._meta.db_table
    encrypt = bulk_encrypter()
    now = timezone.now()
    if known is None:
        known = subjects_known(operator_id=operator.pk, kind=kind, external_ids=list(prepared))
    existing = {}
    for external_id in prepared:
        if external_id in known:
            existing[external_id], result.public_ids[external_id] = known[external_id]
    with connection.cursor() as cursor:
        if existing:
            columns: tuple[list, ...] = ([], [], [], [], [], [])
            for external_id, pk in existing.items():
                values = prepared[external_id]
                has_phone, has_brn = "phone" in values, "brn_hash" in values
                for column, value in zip(columns, (
                        pk, encrypt(values["phone"].encode()).decode() if has_phone else "",
                        values.get("phone_index", ""), values.get("brn_hash", ""),
                        has_phone, has_brn), strict=True):
                    column.append(value)
            cursor.execute(_UPDATE_FROM_ARRAYS, [now, *columns])
        new = [values for external_id, values in prepared.items() if external_id not in existing]
        if new:
            cursor.execute("SELECT array_agg(nextval(pg_get_serial_sequence(%s, 'id'))) "
                           "FROM generate_series(1, %s)", [table, len(new)])
            ids = cursor.fetchone()[0]  # one array: cheaper than a row per id
            sql = (f"COPY {table} (id, kind, source_operator_id, external_id, public_id, phone, "
                   "phone_index, brn_hash, created_at, updated_at) FROM STDIN")
            # COPY text built here: the external id escaped, every other value is an integer,
            # a kind, hex, base64 or a timestamp.
            stamp, operator_id = now.isoformat(), int(operator.pk)
            lines = []
            public_ids = result.public_ids
            with connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
                for pk, values in zip(ids, new, strict=True):
                    phone = values.get("phone")
                    token = encrypt(phone.encode()).decode() if phone else ""
                    public_ids[values["external_id"]] = public_id = new_public_id()
                    lines.append(f"{int(pk)}\t{kind}\t{operator_id}\t"
                                 f"{_copy_escape(values['external_id'])}\t{public_id}\t"
                                 f"{token}\t{values.get('phone_index', '')}\t"
                                 f"{values.get('brn_hash', '')}\t{stamp}\t{stamp}\n")
                    if len(lines) >= 5000:
                        copy.write("".join(lines).encode())
                        lines.clear()
                if lines:
                    copy.write("".join(lines).encode())
            result.ids.update(zip((v["external_id"] for v in new), ids, strict=True))
    result.created += len(new)
    result.updated += len(existing)
    result.ids.update(existing)


def subject_find_by_phone(*, phone: str) -> list[DataSubject]:
    return list(DataSubject.objects.filter(phone_index=phone_index(phone)))


@transaction.atomic
def subject_consent_state_set(*, plan: TransferPlan, subject: DataSubject,
                              fields_granted: Iterable[str] = (),
                              fields_declined: Iterable[str] = (), objected: bool = False,
                              answered_at: datetime | None = None,
                              withdrawn_at: datetime | None = None,
                              expires_at: datetime | None = None,
                              notice_hash: str = "") -> SubjectConsentState:
    """Set what ``subject`` has said for this plan version (the whole state, not a delta).

    Called by the consent app inside the transaction that stores its immutable consent
    record and writes its audit event (consent.granted, consent.withdrawn, ...), so this
    function adds no audit event of its own. Field keys must be fields the plan has a rule
    for, for the subject's kind; a plan that is still a draft or submitted has no notice yet
    and takes no answers.
    """
    if plan.status in (TransferPlan.Status.DRAFT, TransferPlan.Status.SUBMITTED):
        raise GovernanceError("승인되지 않은 계획에는 동의를 받을 수 없습니다. "
                              "(the plan is not approved yet)")
    granted, declined = sorted(set(fields_granted)), sorted(set(fields_declined))
    if set(granted) & set(declined):
        raise GovernanceError("같은 항목에 동의와 거부가 함께 있습니다. (a field is both granted "
                              "and declined)")
    known = set(FieldRule.objects.filter(plan=plan, field__subject_kind=subject.kind)
                .values_list("field__key", flat=True))
    unknown = (set(granted) | set(declined)) - known
    if unknown:
        raise GovernanceError(f"계획에 없는 항목입니다: {sorted(unknown)} (not in the plan)")
    state, _ = SubjectConsentState.objects.select_for_update().get_or_create(
        plan=plan, subject=subject)
    state.fields_granted, state.fields_declined = granted, declined
    state.objected = objected
    state.answered_at = answered_at or state.answered_at or timezone.now()
    state.withdrawn_at, state.expires_at = withdrawn_at, expires_at
    state.notice_hash = notice_hash
    state.updated_at = timezone.now()
    state.save()
    return state
