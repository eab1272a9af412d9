"""Records the recipient could not apply, and their way back corrected (issue 18, part 4).

1. The recipient posts an apply report for a release, signed with its registered Ed25519 key
   like an acknowledgement: the records it could not load, each with a reason code.
2. Each becomes an open `Correction` of the plan, which the source reads
   (`GET /api/plans/{plan}/corrections`).
3. The source uploads a corrected row for the subject in a normal upload: it passes the same
   validation as any row, replaces the subject's record (`records_replace`) and marks the
   correction corrected.
4. The next release carries the corrected record although earlier releases carried the
   subject (`release_lines`), and marks the correction carried.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Any

import orjson
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_event
from governance.models import DataSubject, TransferPlan
from transfers.blocks import (
    KEYS,
    block_from_lines,
    block_lines,
    line_subject_id,
    stored_columns,
    stored_keys,
)
from transfers.models import ApplyReport, Correction, Record, RecordBlock, Release, UploadBatch
from transfers.selectors import releases_carried
from transfers.services.acknowledgements import NONCE, ack_window
from transfers.services.common import Conflict, TransferError
from transfers.services.signing import signed_bytes
from transfers.validation import MAX_JSON_DEPTH, json_depth

REASONS = frozenset(Correction.Reason.values)
MAX_RECORDS = 10_000
MAX_TEXT = 200
PUBLIC_ID = re.compile(r"[A-Za-z0-9]{1,32}")


def _refuse(message: str, code: str = "invalid_apply_report"):
    raise TransferError(message, code=code)


def _payload(release: Release, payload: bytes) -> dict[str, Any]:
    """The signed payload, parsed bounded and checked field by field."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise TransferError("payload is not JSON", code="invalid_apply_report") from exc
    if json_depth(body) > MAX_JSON_DEPTH or not isinstance(body, dict):
        _refuse("payload must be a JSON object")
    unknown = set(body) - {"release", "manifest_sha256", "nonce", "signed_at", "records"}
    if unknown:
        _refuse(f"payload: unknown keys {sorted(unknown)}")
    if body.get("release") != str(release.public_id) or (
            body.get("manifest_sha256") != release.manifest_sha256):
        _refuse("the report is for another release or manifest", "wrong_release")
    if not isinstance(body.get("nonce"), str) or not NONCE.fullmatch(body["nonce"]):
        _refuse("nonce: 16-64 characters of [A-Za-z0-9_-]")
    try:
        signed_at = dt.datetime.fromisoformat(str(body.get("signed_at")).replace("Z", "+00:00"))
    except ValueError as exc:
        raise TransferError("signed_at must be an ISO 8601 time",
                            code="invalid_apply_report") from exc
    if signed_at.tzinfo is None or abs(timezone.now() - signed_at) > ack_window():
        _refuse("signed_at is too far from now: sign a fresh report", "stale_apply_report")
    body["signed_at"] = signed_at
    records = body.get("records")
    if not isinstance(records, list) or not 1 <= len(records) <= MAX_RECORDS:
        _refuse(f"records: a list of 1 to {MAX_RECORDS} objects")
    seen: set[str] = set()
    for i, item in enumerate(records):
        where = f"records[{i}]"
        if not isinstance(item, dict) or set(item) - {"subject", "reason", "text"}:
            _refuse(f"{where}: {{subject, reason, text (for other)}}")
        subject, reason, text = item.get("subject"), item.get("reason"), item.get("text", "")
        if not isinstance(subject, str) or not PUBLIC_ID.fullmatch(subject):
            _refuse(f"{where}.subject: the subject id the release gave")
        if subject in seen:
            _refuse(f"{where}.subject: listed twice")
        seen.add(subject)
        if reason not in REASONS:
            _refuse(f"{where}.reason: one of {', '.join(sorted(REASONS))}")
        if not isinstance(text, str) or len(text) > MAX_TEXT or "\x00" in text:
            _refuse(f"{where}.text: at most {MAX_TEXT} characters")
        if reason == Correction.Reason.OTHER and not text.strip():
            _refuse(f"{where}.text: say what was wrong when the reason is other")
    return body


def apply_report_receive(*, release: Release, payload_b64: Any, signature_b64: Any,
                         by: tuple[str, str]) -> tuple[ApplyReport, int]:
    """Verify and store the recipient's apply report; open a correction per record (one
    outstanding per subject: a record already awaiting correction is not opened again).

    Refused with nothing stored: a bad signature, another release, a stale or replayed
    report, a subject this release did not carry (another plan's or release's records)."""
    if release.status != Release.Status.READY:
        raise Conflict("the release is not ready yet", code="release_not_ready")
    key, payload, signature = signed_bytes(
        operator=release.recipient, payload_b64=payload_b64, signature_b64=signature_b64,
        what="apply_report", party="recipient")
    body = _payload(release, payload)
    subjects = _carried_subjects(release, [item["subject"] for item in body["records"]])
    reasons = Counter(item["reason"] for item in body["records"])
    try:
        with transaction.atomic():
            report = ApplyReport.objects.create(
                release=release, key=key, nonce=body["nonce"], payload=payload,
                signature=signature, signed_at=body["signed_at"],
                record_count=len(body["records"]), reason_counts=dict(sorted(reasons.items())))
            outstanding = set(Correction.objects.filter(
                plan_id=release.plan_id, subject_id__in=subjects.values())
                .exclude(status=Correction.Status.CARRIED).values_list("subject_id", flat=True))
            opened = Correction.objects.bulk_create(
                Correction(plan_id=release.plan_id, subject_id=subjects[item["subject"]],
                           release=release, report=report, reason=item["reason"],
                           text=item.get("text", "").strip())
                for item in body["records"] if subjects[item["subject"]] not in outstanding)
            audit_event(by=by, action="release.apply_report_received", target=release,
                        details={"release": str(release.public_id), "apply_report": report.pk,
                                 "records": report.record_count, "reasons": report.reason_counts,
                                 "corrections_opened": len(opened), "key_id": key.key_id})
    except IntegrityError as exc:
        raise Conflict("this apply report was already received (nonce reused)",
                       code="replayed") from exc
    return report, len(opened)


def _carried_subjects(release: Release, public_ids: list[str]) -> dict[str, int]:
    """Public id -> subject id, for subjects of the plan this release carried; a subject it
    did not carry (another plan's, another release's, unknown) refuses the whole report."""
    found = dict(DataSubject.objects.filter(public_id__in=public_ids,
                                            source_operator_id=release.plan.from_operator_id)
                 .values_list("public_id", "id"))
    carried = releases_carried([release.pk], set(found.values())).get(release.pk, {})
    for i, public_id in enumerate(public_ids):
        if found.get(public_id) not in carried:
            _refuse(f"records[{i}].subject: this release carried no such subject",
                    "unknown_record")
    return found


# --- The source's corrected rows (called by transfers.services.uploads) ---------------------


def open_corrections(plan: TransferPlan, subject_ids: list[int]) -> set[int]:
    """Those of ``subject_ids`` with an open correction request under ``plan``."""
    if not subject_ids:
        return set()
    return {sid for start in range(0, len(subject_ids), 5000)
            for sid in Correction.objects.filter(plan=plan, status=Correction.Status.OPEN,
                                                 subject_id__in=subject_ids[start:start + 5000])
            .values_list("subject_id", flat=True)}


def records_replace(plan: TransferPlan, subject_ids: set[int]) -> None:
    """Remove the records of ``subject_ids`` under ``plan`` before their corrected rows are
    stored: each from its block (re-encrypted without it) and from its batch's totals, so a
    release and the reconciliation see only the corrected record."""
    old = list(Record.objects.filter(plan=plan, subject_id__in=subject_ids)
               .values_list("pk", "block_id", "batch_id", "kind", "certificate_balance"))
    forget: dict[int, dict[str, Counter]] = {}  # batch id -> kinds, fields, balance
    for _pk, _block, batch_id, kind, balance in old:
        totals = forget.setdefault(batch_id, {"kinds": Counter(), "fields": Counter(),
                                              "balance": Counter()})
        totals["kinds"][kind] += 1
        totals["balance"]["won"] += balance or 0
    for block in RecordBlock.objects.select_for_update().filter(
            pk__in={block_id for _pk, block_id, *_ in old}):
        kept = []
        for line in block_lines(bytes(block.records)):
            if line_subject_id(line) in subject_ids:
                forget[block.batch_id]["fields"].update(
                    stored_keys(stored_columns(line)[KEYS]))
            else:
                kept.append(line)
        if not kept:
            block.delete()
            continue
        block.records = block_from_lines(kept)
        block.record_count = len(kept)
        block.first_subject_id = line_subject_id(kept[0])
        block.last_subject_id = line_subject_id(kept[-1])
        block.save(update_fields=["records", "record_count", "first_subject_id",
                                  "last_subject_id"])
    for batch in UploadBatch.objects.select_for_update().filter(pk__in=list(forget)):
        totals = forget[batch.pk]
        batch.kind_counts = _minus(batch.kind_counts, totals["kinds"])
        batch.field_counts = _minus(batch.field_counts, totals["fields"])
        batch.balance_sum -= totals["balance"]["won"]
        batch.save(update_fields=["kind_counts", "field_counts", "balance_sum"])
    Record.objects.filter(pk__in=[row[0] for row in old]).delete()


def _minus(counts: dict[str, int], less: Counter) -> dict[str, int]:
    return {key: n - less.get(key, 0) for key, n in counts.items()}


def corrections_answered(plan: TransferPlan, subject_ids: set[int], batch: UploadBatch) -> int:
    return Correction.objects.filter(plan=plan, status=Correction.Status.OPEN,
                                     subject_id__in=subject_ids).update(
        status=Correction.Status.CORRECTED, corrected_at=timezone.now(), corrected_batch=batch)


# --- The next release ----------------------------------------------------------------------


def corrected_awaiting_release(plan: TransferPlan) -> set[int]:
    """Subjects whose corrected record no release has carried yet."""
    return set(Correction.objects.filter(plan=plan, status=Correction.Status.CORRECTED)
               .values_list("subject_id", flat=True))


def corrections_carried(release: Release, subject_ids: set[int]) -> int:
    if not subject_ids:
        return 0
    return Correction.objects.filter(plan_id=release.plan_id, status=Correction.Status.CORRECTED,
                                     subject_id__in=subject_ids).update(
        status=Correction.Status.CARRIED, carried_by=release)
