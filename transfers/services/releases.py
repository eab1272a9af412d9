"""Releases to the incoming operator: what policy allows now, encrypted to its key, with a
signed manifest. One release is built by one export job, all or nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from audit.selectors import newest_witnessed_checkpoint
from audit.services import audit_event
from audit.signing import service_key_id, service_sign
from core.tasks import enqueue_on_commit
from governance.models import OperatorKey, TransferPlan
from governance.selectors import operator_current_key
from governance.services import provision_record
from transfers import format as fmt
from transfers.models import Release, ReleaseGroup, UploadBatch
from transfers.selectors import balance_sum_of
from transfers.services.common import SYSTEM, Conflict, gc_paused, releases_dir
from transfers.services.corrections import corrections_carried
from transfers.services.release_lines import ReleaseShapes, Tally, release_lines


def _chunk_records() -> int:
    return int(getattr(settings, "TRANSFERS_RELEASE_CHUNK_RECORDS", 50_000))


@transaction.atomic
def release_request(*, plan: TransferPlan, by: tuple[str, str]) -> Release:
    """Ask for the next release of ``plan``; the export job builds it. While one is still
    being built, asking again answers that one (no second job)."""
    if plan.status not in TransferPlan.IN_FORCE:
        raise Conflict("the plan is not in force: nothing may be released under it",
                       code="plan_not_in_force")
    pending = Release.objects.filter(plan=plan, status=Release.Status.PENDING).first()
    if pending is not None:
        return pending
    key = operator_current_key(plan.to_operator, OperatorKey.Purpose.ENCRYPTION)
    if key is None:
        raise Conflict("the recipient has no registered encryption key", code="no_key")
    number = (Release.objects.filter(plan=plan).aggregate(n=Max("number"))["n"] or 0) + 1
    try:
        with transaction.atomic():
            release = Release.objects.create(
                plan=plan, number=number, recipient_id=plan.to_operator_id, recipient_key=key,
                rehearsal=plan.rehearsal, as_of=timezone.now(), requested_by=by[1])
    except IntegrityError:
        # Another request created this number first: answer that one.
        return Release.objects.get(plan=plan, number=number)
    audit_event(by=by, action="release.requested", target=release,
                details={"plan_id": plan.pk, "release": str(release.public_id), "number": number,
                         "rehearsal": plan.rehearsal})
    enqueue_on_commit("transfers.tasks.export_release", release.pk)
    return release


def release_retry(*, release: Release, by) -> Release:
    """Queue the export of a release again (after a worker died, or after a failure), as
    ``by`` (an officer, or None for the system)."""
    updated = Release.objects.filter(pk=release.pk).exclude(
        status=Release.Status.READY).update(status=Release.Status.PENDING, error="")
    if updated:
        with transaction.atomic():
            audit_event(by=by or SYSTEM, action="release.retried", target=release,
                        details={"release": str(release.public_id)})
        enqueue_on_commit("transfers.tasks.export_release", release.pk)
    release.refresh_from_db()
    return release


def release_fail(*, release_id: int, error: str) -> None:
    with transaction.atomic():
        if Release.objects.filter(pk=release_id, status=Release.Status.PENDING).update(
                status=Release.Status.FAILED, error=error[:500]):
            audit_event(by=SYSTEM, action="release.failed",
                        target=("transfers.release", release_id),
                        details={"error": error[:200]})


def release_path(release: Release) -> Path:
    return releases_dir() / str(release.public_id)


def _chunk_write(path: Path, data: bytes) -> str:
    """Write one chunk file; its SHA-256 (hex) for the manifest."""
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def release_export(*, release_id: int) -> Release:
    """Build the release: stream the plan's records in subject order, merged with the policy
    decisions at ``release.as_of`` and what earlier releases carried; write encrypted chunks,
    the items, the manifest and its signature; record the provision. One transaction: a worker
    killed half-way leaves nothing, and running it again builds the same release."""
    with transaction.atomic():
        release = (Release.objects.select_for_update()
                   .select_related("plan", "recipient", "recipient_key", "plan__from_operator")
                   .get(pk=release_id))
        if release.status == Release.Status.READY:
            return release
        with gc_paused():
            return _export(release)


def _export(release: Release) -> Release:
    plan = release.plan
    final, staging = release_path(release), releases_dir() / f"{release.public_id}.partial"
    for path in (staging, final):
        if path.exists():
            shutil.rmtree(path)
    (staging / "chunks").mkdir(parents=True)
    public_key = fmt.recipient_public_key(bytes(release.recipient_key.public_key))
    tally, chunks, shapes = Tally(), [], ReleaseShapes()
    lines: list[bytes] = []
    limit = _chunk_records()

    # Chunk files are hashed and written by a thread (both release the GIL) while the next
    # chunk is built; at most one waits, so memory holds two chunks at most.
    writer, written = ThreadPoolExecutor(max_workers=1, thread_name_prefix="release"), []

    def flush() -> None:
        number, chunk_lines = len(chunks) + 1, lines[:limit]
        info = fmt.chunk_info(plan_id=plan.pk, plan_version=plan.version,
                              release_id=str(release.public_id), chunk=number,
                              recipient_key_id=release.recipient_key.key_id,
                              rehearsal=release.rehearsal)
        records = len(chunk_lines)
        # Every line ends with a newline, the last one too (an empty line joined after it:
        # not a copy of the chunk with one byte added).
        chunk_lines.append(b"")
        data = fmt.chunk_encrypt(b"\n".join(chunk_lines), public_key, info)
        name = fmt.chunk_name(number)
        if written:
            written[-1].result()
        written.append(writer.submit(_chunk_write, staging / name, data))
        chunks.append({"file": name, "info": _b64(info), "records": records,
                       "bytes": len(data)})
        _groups_insert(release.pk, number, shapes.take(records))
        del lines[:limit]

    with writer:
        for new_lines in release_lines(release, tally, shapes):
            lines.extend(new_lines)
            while len(lines) >= limit:
                flush()
        if lines:
            flush()
    for chunk, done in zip(chunks, written, strict=True):
        chunk["sha256"] = done.result()
    manifest = _manifest(release, tally, chunks)
    body = fmt.manifest_bytes(manifest)
    signature = service_sign(body)
    (staging / "manifest.json").write_bytes(body)
    (staging / "manifest.sig").write_bytes(signature)
    staging.rename(final)
    now = timezone.now()
    release.status, release.completed_at = Release.Status.READY, now
    release.record_count, release.chunk_count = tally.records, len(chunks)
    release.manifest, release.signature = body, signature
    release.manifest_sha256 = hashlib.sha256(body).hexdigest()
    release.attempts += 1
    release.save()
    corrections_carried(release, tally.corrected)
    if not release.rehearsal and tally.records:
        # A rehearsal moves nothing, so it is not a provision.
        provision_record(plan=plan, items=sorted(tally.items), subject_count=tally.records,
                         provided_from=now, by=SYSTEM, file_name=f"{plan.title} 릴리스 "
                         f"#{release.number}", reference=f"release:{release.public_id}",
                         groups=ReleaseGroup.objects.filter(release_id=release.pk)
                         .values_list("fields", "subject_count"))
    audit_event(by=SYSTEM, action="release.exported", target=release,
                details={"release": str(release.public_id), "records": tally.records,
                         "chunks": len(chunks), "manifest_sha256": release.manifest_sha256,
                         "rehearsal": release.rehearsal})
    return release


def _groups_insert(release_id: int, chunk: int, groups: dict[tuple[str, ...], list[int]]
                   ) -> None:
    """The chunk's subjects, one row per field set (`ReleaseShapes.take`: ids ascending)."""
    ReleaseGroup.objects.bulk_create(
        ReleaseGroup(release_id=release_id, chunk=chunk, fields=list(allowed),
                     subject_ids=ReleaseGroup.pack_ids(subject_ids),
                     first_subject_id=subject_ids[0],
                     last_subject_id=subject_ids[-1], subject_count=len(subject_ids))
        for allowed, subject_ids in groups.items())


def _b64(raw: bytes) -> str:
    import base64

    return base64.b64encode(raw).decode("ascii")


def _iso(value) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _manifest(release: Release, tally: Tally, chunks: list[dict]) -> dict[str, Any]:
    plan = release.plan
    source_balance = balance_sum_of(UploadBatch.objects.filter(upload__plan=plan))
    manifest: dict[str, Any] = {
        "format": fmt.FORMAT,
        "release": {"id": str(release.public_id), "number": release.number,
                    "as_of": _iso(release.as_of), "incremental": True},
        "rehearsal": release.rehearsal,
        "plan": {"id": plan.pk, "lineage": str(plan.lineage), "version": plan.version,
                 "title": plan.title, "from": plan.from_operator.code,
                 "to": release.recipient.code},
        "recipient": {"operator": release.recipient.code,
                      "key_id": release.recipient_key.key_id},
        "suite": fmt.suite_for(
            fmt.recipient_public_key(bytes(release.recipient_key.public_key)))[1],
        "signing_key_id": service_key_id(),
        # The audit log as the witnesses saw it when this release was made: the recipient
        # can find this checkpoint in the commission's copy (docs/audit.md, "Witnesses").
        "audit_checkpoint": newest_witnessed_checkpoint(),
        "chunks": chunks,
        "counts": {
            "records": tally.records,
            "subjects": dict(sorted(tally.subjects.items())),
            "fields": dict(sorted(tally.fields.items())),
            "denied": dict(sorted(tally.denied.items())),
            "denied_by_field": {k: dict(sorted(v.items()))
                                for k, v in sorted(tally.denied_by_field.items())},
            "first_time": {
                "records": sum(tally.first_subjects.values()),
                "subjects": dict(sorted(tally.first_subjects.items())),
                "fields": dict(sorted(tally.first_fields.items())),
                "certificate_balance_sum": tally.first_balance_sum,
            },
        },
        "control_totals": {
            "records": tally.records,
            "subjects": dict(sorted(tally.subjects.items())),
            "certificate_balance_sum": tally.balance_sum,
            "source_accepted_balance_sum": source_balance,
        },
    }
    if release.rehearsal:
        manifest["stamp"] = fmt.REHEARSAL_STAMP
    return manifest
