"""The outgoing operator's upload: validated batches, records encrypted at rest, totals."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from audit.services import audit_event, looks_personal
from governance.crypto import blind_index
from governance.models import DataSubject, TransferPlan
from governance.selectors import plan_rules, subjects_known
from governance.services import subjects_upsert
from transfers import bulk
from transfers.blocks import BLOCK_RECORDS, block_encode
from transfers.models import QrMerchantId, RecordBlock, Upload, UploadBatch
from transfers.services.common import Conflict, TransferError, UnsupportedMediaType, gc_paused
from transfers.services.corrections import (
    corrections_answered,
    open_corrections,
    records_replace,
)
from transfers.validation import (
    MAX_INTEGER,
    QR_FIELD,
    REQUIRED_FIELDS,
    SUBJECT_BRN_FIELD,
    SUBJECT_PHONE_FIELD,
    PlanSchema,
    Problem,
    ValidRow,
    parse_csv,
    parse_ndjson,
    validate_row,
)

BATCH_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
CSV_TYPES = ("text/csv",)
# Uploads are taken only for plans under which data may move (rehearsals included).
UPLOADABLE = TransferPlan.IN_FORCE


def plan_schema(plan: TransferPlan) -> PlanSchema:
    types: dict[str, dict[str, str]] = {}
    for rule in plan_rules(plan):
        types.setdefault(rule.field.subject_kind, {})[rule.field.key] = rule.field.data_type
    required = {kind: tuple(k for k in keys if k in types.get(kind, {}))
                for kind, keys in REQUIRED_FIELDS.items()}
    return PlanSchema(types=types, required=required)


def _totals_clean(raw: Any) -> dict[str, Any]:
    """Declared totals: {"subjects": {"merchant": n, "user": n}, "certificate_balance_sum": n}."""
    if raw in (None, {}):
        return {}
    if not isinstance(raw, dict):
        raise TransferError("declared_totals must be an object", code="invalid_totals")
    unknown = set(raw) - {"subjects", "certificate_balance_sum"}
    if unknown:
        raise TransferError(f"declared_totals: unknown keys {sorted(unknown)}",
                            code="invalid_totals")
    subjects = raw.get("subjects", {})
    if not isinstance(subjects, dict) or not all(
            k in DataSubject.Kind.values and _is_count(v) for k, v in subjects.items()):
        raise TransferError("declared_totals.subjects: {merchant|user: whole number >= 0, "
                            f"at most {MAX_INTEGER}}}",
                            code="invalid_totals")
    balance = raw.get("certificate_balance_sum")
    if balance is not None and not _is_count(balance):
        raise TransferError("declared_totals.certificate_balance_sum: whole number of won",
                            code="invalid_totals")
    cleaned: dict[str, Any] = {"subjects": dict(subjects)}
    if balance is not None:
        cleaned["certificate_balance_sum"] = balance
    return cleaned


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INTEGER


def batch_id_check(batch_id: str) -> None:
    """Refuse a batch id of the wrong shape, or one that looks like a personal value: batch
    ids are recorded in the audit trail, which never holds a phone or registration number."""
    if not BATCH_ID.fullmatch(batch_id or ""):
        raise TransferError("batch id: 1-64 letters, digits or ._:-", code="invalid_batch_id")
    if looks_personal(batch_id):
        raise TransferError("a batch id must not look like a phone, business or resident "
                            "registration number: use a sequence number", code="invalid_batch_id")


@transaction.atomic
def upload_create(*, plan: TransferPlan, by: tuple[str, str],
                  declared_totals: Any = None) -> Upload:
    if plan.status not in UPLOADABLE:
        raise Conflict("the plan is not approved: nothing can be uploaded for it yet",
                       code="plan_not_in_force")
    upload = Upload.objects.create(plan=plan, operator_id=plan.from_operator_id,
                                   declared_totals=_totals_clean(declared_totals))
    audit_event(by=by, action="upload.created", target=upload,
                details={"plan_id": plan.pk, "upload": str(upload.public_id)})
    return upload


@transaction.atomic
def upload_complete(*, upload: Upload, by: tuple[str, str], declared_totals: Any = None
                    ) -> Upload:
    """Close the upload (no more batches), with the source's control totals if given now."""
    upload = Upload.objects.select_for_update().get(pk=upload.pk)
    totals = _totals_clean(declared_totals)
    if upload.status == Upload.Status.COMPLETE:
        if totals and totals != upload.declared_totals:
            raise Conflict("the upload is already complete with other declared totals")
        return upload
    if totals:
        upload.declared_totals = totals
    upload.status, upload.completed_at = Upload.Status.COMPLETE, timezone.now()
    upload.save(update_fields=["status", "completed_at", "declared_totals"])
    from transfers.selectors import upload_totals

    comparison = upload_totals(upload)
    audit_event(by=by, action="upload.completed", target=upload,
                details={"plan_id": upload.plan_id, "accepted": upload.accepted_count,
                         "rejected": upload.rejected_count, "totals_match": comparison["matches"]})
    return upload


@dataclass
class BatchResult:
    batch: UploadBatch
    replayed: bool


def upload_batch_receive(*, upload: Upload, batch_id: str, body: bytes, content_type: str,
                         by: tuple[str, str]) -> BatchResult:
    """Validate one batch and store its accepted rows, all or nothing.

    Re-sending a batch id with the same body answers the first report and changes nothing;
    with another body it is refused (409). Two batches racing for the same subject are
    settled by the unique constraint on (plan, subject): the loser is retried once, and then
    reports the row as a duplicate.
    """
    batch_id_check(batch_id)
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in NDJSON_TYPES + CSV_TYPES:
        raise UnsupportedMediaType("send application/x-ndjson or text/csv")
    if not body.strip():
        raise TransferError("the batch holds no rows", code="empty_batch")
    digest = hashlib.sha256(body).hexdigest()
    for attempt in range(2):
        existing = UploadBatch.objects.filter(upload=upload, batch_id=batch_id).first()
        if existing is not None:
            if existing.content_sha256 != digest:
                raise Conflict("this batch id was already used for other content",
                               code="batch_id_reused")
            return BatchResult(existing, replayed=True)
        try:
            with gc_paused():
                batch = _receive(upload, batch_id, body, media, digest, by)
            return BatchResult(batch, False)
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


@transaction.atomic
def _receive(upload: Upload, batch_id: str, body: bytes, media: str, digest: str,
             by: tuple[str, str]) -> UploadBatch:
    upload = Upload.objects.select_related("plan").get(pk=upload.pk)
    if upload.status != Upload.Status.OPEN:
        raise Conflict("the upload is complete: start a new upload", code="upload_complete")
    plan = upload.plan
    schema = plan_schema(plan)
    rows = parse_ndjson(body) if media in NDJSON_TYPES else parse_csv(body, schema)
    valid: list[ValidRow] = []
    problems: list[Problem] = []
    rejected_lines: set[int] = set()
    seen: dict[tuple[str, str], int] = {}
    lines = 0
    for line, obj, problem in rows:
        lines += 1
        if problem is not None:
            problems.append(problem)
            rejected_lines.add(line)
            continue
        row, row_problems = validate_row(line, obj, schema)
        if row is None:
            problems.extend(row_problems)
            rejected_lines.add(line)
            continue
        key = (row.kind, row.external_id)
        if key in seen:
            problems.append(Problem(line, "external_id", "duplicate_in_batch",
                                    f"same {row.kind} as line {seen[key]}"))
            rejected_lines.add(line)
            continue
        seen[key] = line
        valid.append(row)
    batch = UploadBatch.objects.create(upload=upload, batch_id=batch_id, content_sha256=digest,
                                       line_count=lines)
    valid, known, replacing = _drop_known(plan, valid, problems, rejected_lines)
    valid, qr_ids = qr_ids_check(plan.from_operator_id, valid, known, problems, rejected_lines)
    if replacing:
        records_replace(plan, replacing)
    subject_ids = _store(plan, upload, batch, valid, known, by)
    qr_ids_hold(plan.from_operator_id, {subject_ids[key]: index
                                        for key, index in qr_ids.items()},
                {pk for rows in known.values() for pk, _public in rows.values()})
    if replacing:
        batch.corrected_count = corrections_answered(plan, replacing, batch)
    kinds = Counter(r.kind for r in valid)
    fields = Counter(k for r in valid for k in r.values)
    batch.accepted_count, batch.rejected_count = len(valid), len(rejected_lines)
    batch.rejections = [p.as_dict() for p in sorted(problems, key=lambda p: p.line)]
    batch.kind_counts, batch.field_counts = dict(kinds), dict(fields)
    batch.balance_sum = sum(r.balance or 0 for r in valid)
    batch.save()
    # Conditional: an upload completed while this batch was being checked takes nothing more
    # (the UPDATE waits for the completing transaction's lock, then sees the new status).
    updated = Upload.objects.filter(pk=upload.pk, status=Upload.Status.OPEN).update(
        accepted_count=F("accepted_count") + batch.accepted_count,
        rejected_count=F("rejected_count") + batch.rejected_count)
    if not updated:
        raise Conflict("the upload is complete: start a new upload", code="upload_complete")
    audit_event(by=by, action="upload.batch_received", target=batch,
                details={"upload": str(upload.public_id), "batch_id": batch_id, "lines": lines,
                         "accepted": batch.accepted_count, "rejected": batch.rejected_count,
                         "sha256": digest})
    return batch


def _drop_known(plan: TransferPlan, valid: list[ValidRow], problems: list[Problem],
                rejected_lines: set[int]) -> tuple[list[ValidRow], dict[str, dict], set[int]]:
    """Reject rows whose subject already has a record under this plan (an earlier batch),
    unless the recipient could not apply that record and the source is asked to correct it
    (an open `Correction`): such a row replaces the record (the third value: their ids).

    Returns the rows kept and, per kind, the subjects the operator already holds among them
    (`subjects_known`), which the subjects' upsert then uses instead of looking them up again.
    Two indexed lookups per kind (subjects by external id, then records by (plan, subject)):
    a join filtered on both sides lets the planner scan every record of the plan instead.
    """
    by_kind: dict[str, list[str]] = {}
    for row in valid:
        by_kind.setdefault(row.kind, []).append(row.external_id)
    known_by_kind, recorded, replacing = {}, set(), set()
    for kind, external_ids in by_kind.items():
        known = known_by_kind[kind] = subjects_known(operator_id=plan.from_operator_id,
                                                     kind=kind, external_ids=external_ids)
        external_id_of = {pk: external_id for external_id, (pk, _) in known.items()}
        held = bulk.recorded_subject_ids(plan_id=plan.pk,
                                         subject_ids=list(external_id_of))
        to_correct = open_corrections(plan, held)
        replacing |= to_correct
        recorded.update((kind, external_id_of[pk]) for pk in held if pk not in to_correct)
    if not recorded:
        return valid, known_by_kind, replacing
    kept = []
    for row in valid:
        if (row.kind, row.external_id) in recorded:
            problems.append(Problem(row.line, "external_id", "duplicate_across_batches",
                                    f"this {row.kind} was accepted in an earlier batch"))
            rejected_lines.add(row.line)
        else:
            kept.append(row)
    return kept, known_by_kind, replacing


def qr_ids_check(operator_id: int, valid: list[ValidRow], known: dict[str, dict],
                 problems: list[Problem], rejected_lines: set[int]
                 ) -> tuple[list[ValidRow], dict[tuple[str, str], str]]:
    """Reject a merchant row whose QR merchant id another merchant of the operator holds
    (an earlier upload, or an earlier line of this batch): `qr_id_taken`. Returns the rows
    kept and, per (kind, external id) of those with a QR id, its keyed hash. One indexed
    lookup for the batch (a concurrent batch claiming the same id loses at the unique index
    and is retried, then refused here)."""
    with_qr = [r for r in valid if r.values.get(QR_FIELD)]
    if not with_qr:
        return valid, {}
    index_of = qr_indexer()
    indexes = {(r.kind, r.external_id): index_of(r.values[QR_FIELD]) for r in with_qr}
    holders = bulk.qr_holders(operator_id=operator_id, column="qr_index",
                              values=list(set(indexes.values())))
    kept, claimed = [], {}
    for row in valid:
        key = (row.kind, row.external_id)
        index = indexes.get(key)
        if index is None:
            kept.append(row)
            continue
        subject = known.get(row.kind, {}).get(row.external_id, (None,))[0]
        holder, first_line = holders.get(index), claimed.get(index)
        if (holder is not None and holder != subject) or first_line is not None:
            where = f"line {first_line}" if first_line else "an earlier upload"
            problems.append(Problem(row.line, QR_FIELD, "qr_id_taken",
                                    f"another merchant holds this QR merchant id ({where})"))
            rejected_lines.add(row.line)
            del indexes[key]
            continue
        claimed[index] = row.line
        kept.append(row)
    return kept, indexes


def qr_indexer():
    """The QR id's keyed hash, ``governance.crypto.blind_index("qr:" + id)``, with the key
    read once for a batch (the settings lookup and key encoding were most of its cost)."""
    key = settings.BLIND_INDEX_KEY.encode()
    if not key:
        return lambda qr_id: blind_index("qr:" + qr_id)  # raises: no key configured
    digest = hmac.digest
    return lambda qr_id: digest(key, b"qr:" + qr_id.encode(), "sha256").hex()


def qr_ids_hold(operator_id: int, held: dict[int, str], known_ids: set[int]) -> None:
    """Record which subject holds each QR id. Only subjects that existed before the batch
    (``known_ids``: a corrected row, a later plan version) can hold one already, and may have
    changed it: their old holding is dropped. New holdings go in at once (`transfers.bulk`)."""
    if not held:
        return
    before = bulk.qr_holders(operator_id=operator_id, column="subject_id",
                             values=[sid for sid in held if sid in known_ids])
    unchanged = {sid for index, sid in before.items() if held.get(sid) == index}
    stale = [index for index, sid in before.items() if sid not in unchanged]
    if stale:
        QrMerchantId.objects.filter(operator_id=operator_id, qr_index__in=stale).delete()
    bulk.qr_holdings_insert(operator_id=operator_id,
                            rows=[(sid, index) for sid, index in held.items()
                                  if sid not in unchanged])


def _store(plan: TransferPlan, upload: Upload, batch: UploadBatch, valid: list[ValidRow],
           known: dict[str, dict], by: tuple[str, str]) -> dict[tuple[str, str], int]:
    """Store the rows; (kind, external id) -> subject id."""
    stored: dict[tuple[str, str], int] = {}
    for kind in sorted({r.kind for r in valid}):
        rows = [r for r in valid if r.kind == kind]
        phone_key, brn_key = SUBJECT_PHONE_FIELD.get(kind), SUBJECT_BRN_FIELD.get(kind)
        subject_rows = []
        for r in rows:
            subject_row = {"external_id": r.external_id}
            if phone_key and phone_key in r.values:
                subject_row["phone"] = r.values[phone_key]
            if brn_key and brn_key in r.values:
                subject_row["brn"] = r.values[brn_key]
            subject_rows.append(subject_row)
        subjects = subjects_upsert(operator=plan.from_operator, kind=kind, rows=subject_rows,
                                   by=by, known=known.get(kind, {}))
        records_store(plan_id=plan.pk, upload_id=upload.pk, batch_id=batch.pk, kind=kind,
                      rows=[StoredRow(subjects.ids[r.external_id],
                                      subjects.public_ids[r.external_id], r.external_id,
                                      r.line, r.values, r.balance) for r in rows])
        stored.update(((kind, r.external_id), subjects.ids[r.external_id]) for r in rows)
    return stored


class StoredRow(NamedTuple):
    subject_id: int
    public_id: str
    external_id: str
    line: int
    values: dict[str, Any]
    balance: int | None


_KINDS = frozenset(DataSubject.Kind.values)


def records_store(*, plan_id: int, upload_id: int, batch_id: int, kind: str,
                  rows: list[StoredRow]) -> None:
    """Store accepted rows of one kind: their values in blocks of `BLOCK_RECORDS`, in subject
    order, one Fernet token each (`transfers.blocks`), and one `Record` row each, inserted at once
    (`transfers.bulk.records_insert`)."""
    if kind not in _KINDS:
        raise ValueError(f"unknown subject kind: {kind}")
    rows = sorted(rows, key=lambda r: r.subject_id)
    records: list[tuple] = []
    for start in range(0, len(rows), BLOCK_RECORDS):
        part = rows[start:start + BLOCK_RECORDS]
        block = RecordBlock.objects.create(
            plan_id=plan_id, batch_id=batch_id, kind=kind,
            first_subject_id=part[0].subject_id, last_subject_id=part[-1].subject_id,
            record_count=len(part),
            records=block_encode((r.subject_id, r.public_id, r.external_id, r.values)
                                 for r in part))
        records.extend((plan_id, upload_id, batch_id, block.pk, r.subject_id, kind, r.line,
                        r.balance) for r in part)
    bulk.records_insert(records)
