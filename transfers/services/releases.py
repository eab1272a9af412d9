"""Releases to the incoming operator: what policy allows now, encrypted to its key, with a
signed manifest. One release is built by one export job, all or nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import operator
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Sum
from django.utils import timezone

from audit.signing import service_key_id, service_sign
from governance.models import OperatorKey, TransferPlan
from governance.selectors import (
    operator_current_key,
    plan_decisions,
    plan_default_decisions,
)
from governance.services import provision_record
from transfers import format as fmt
from transfers.blocks import block_lines
from transfers.models import RecordBlock, Release, ReleaseGroup, UploadBatch
from transfers.selectors import release_subjects
from transfers.services.common import Conflict, gc_paused, record, releases_dir
from transfers.validation import BALANCE_FIELD

SYSTEM = ("system", "system:transfers")


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
    record(by, "release.requested", "transfers.release", release.pk,
           {"plan_id": plan.pk, "release": str(release.public_id), "number": number,
            "rehearsal": plan.rehearsal})
    release_id = release.pk
    transaction.on_commit(lambda: _queue_export(release_id))
    return release


def _queue_export(release_id: int) -> None:
    from transfers.tasks import export_release

    export_release.delay(release_id)


def release_retry(*, release: Release, by) -> Release:
    """Queue the export of a release again (after a worker died, or after a failure)."""
    updated = Release.objects.filter(pk=release.pk).exclude(
        status=Release.Status.READY).update(status=Release.Status.PENDING, error="")
    if updated:
        with transaction.atomic():
            record(by, "release.retried", "transfers.release", release.pk,
                   {"release": str(release.public_id)})
        _queue_export(release.pk)
    release.refresh_from_db()
    return release


def release_fail(*, release_id: int, error: str) -> None:
    with transaction.atomic():
        if Release.objects.filter(pk=release_id, status=Release.Status.PENDING).update(
                status=Release.Status.FAILED, error=error[:500]):
            record(SYSTEM, "release.failed", "transfers.release", release_id,
                   {"error": error[:200]})


def release_path(release: Release) -> Path:
    return releases_dir() / str(release.public_id)


@dataclass
class _Tally:
    records: int = 0
    subjects: Counter = field(default_factory=Counter)
    fields: Counter = field(default_factory=Counter)
    denied: Counter = field(default_factory=Counter)
    denied_by_field: dict = field(default_factory=lambda: defaultdict(Counter))
    balance_sum: int = 0
    items: set = field(default_factory=set)
    # What this release carries for the first time in the plan: a subject no earlier release
    # carried, and fields of a subject no earlier release carried. Summed over a plan's
    # releases, each subject and field counts once however often it is carried again.
    first_subjects: Counter = field(default_factory=Counter)
    first_fields: Counter = field(default_factory=Counter)
    first_balance_sum: int = 0


def _chunk_write(path: Path, data: bytes) -> str:
    """Write one chunk file; its SHA-256 (hex) for the manifest."""
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _previously_released(plan: TransferPlan, release: Release
                         ) -> Iterator[tuple[int, list[str]]]:
    """(subject id, field keys) carried by the plan's earlier releases, in subject order."""
    if release.rehearsal:
        return iter(())
    earlier = (Release.objects.filter(plan__lineage=plan.lineage, status=Release.Status.READY,
                                      rehearsal=False)
               .exclude(pk=release.pk).order_by("pk").values_list("pk", flat=True))
    return heapq.merge(*(release_subjects(pk) for pk in earlier), key=operator.itemgetter(0))


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
    public_key = X25519PublicKey.from_public_bytes(bytes(release.recipient_key.public_key))
    tally, chunks = _Tally(), []
    lines: list[bytes] = []
    items: list[tuple[int, _Shape]] = []  # the subject and shape of each line
    limit = _chunk_records()

    # Chunk files are hashed and written by a thread (both release the GIL) while the next
    # chunk is built; at most one waits, so memory holds two chunks at most.
    writer, written = ThreadPoolExecutor(max_workers=1, thread_name_prefix="release"), []

    def flush() -> None:
        number = len(chunks) + 1
        info = fmt.chunk_info(plan_id=plan.pk, plan_version=plan.version,
                              release_id=str(release.public_id), chunk=number,
                              recipient_key_id=release.recipient_key.key_id,
                              rehearsal=release.rehearsal)
        data = fmt.chunk_encrypt(b"\n".join(lines[:limit]) + b"\n", public_key, info)
        name = fmt.chunk_name(number)
        if written:
            written[-1].result()
        written.append(writer.submit(_chunk_write, staging / name, data))
        chunks.append({"file": name, "info": _b64(info), "records": len(lines[:limit]),
                       "bytes": len(data)})
        _groups_insert(release.pk, number, items[:limit])
        del lines[:limit], items[:limit]

    with writer:
        for new_lines, new_items in _release_lines(release, tally):
            lines.extend(new_lines)
            items.extend(new_items)
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
    if not release.rehearsal and tally.records:
        # A rehearsal moves nothing, so it is not a provision.
        provision_record(plan=plan, items=sorted(tally.items), subject_count=tally.records,
                         provided_from=now, by=SYSTEM, file_name=f"{plan.title} 릴리스 "
                         f"#{release.number}", reference=f"release:{release.public_id}")
    record(SYSTEM, "release.exported", "transfers.release", release.pk,
           {"release": str(release.public_id), "records": tally.records,
            "chunks": len(chunks), "manifest_sha256": release.manifest_sha256,
            "rehearsal": release.rehearsal})
    return release


_NOTHING: frozenset[str] = frozenset()
_NO_MORE = float("inf")  # no further subject answered
# A release line (docs/release-format.md); the ids are letters, digits and ._:- (no escaping).
_LINE = b'{"subject":"%s","kind":"%s","external_id":"%s","fields":{%s}}'
# The balance's fragment is '"user.certificate_balance":<whole number>'.
_BALANCE_VALUE_AT = len(BALANCE_FIELD) + 3


class _Shape:
    """What a release does with every record of one shape (same decisions, same stored keys):
    which stored fields it keeps, what it denies and why, and how many records it counted."""

    __slots__ = ("kind", "allowed", "allowed_set", "pick", "keep_all", "denied", "balance",
                 "counted", "carried", "first")

    def __init__(self, kind: str, decided, keys: list[str]) -> None:
        self.kind = kind
        self.allowed = tuple(k for k in keys if (d := decided.get(k)) is not None and d.allowed)
        self.allowed_set = frozenset(self.allowed)
        # Positions in a stored line split at its tabs: the fragments come after four columns.
        # `pick`: the allowed fragments of a split line (itemgetter picks them in C; with one
        # index it would return the item itself, so a one-item slice instead).
        indexes = [4 + i for i, k in enumerate(keys) if k in self.allowed_set]
        if len(indexes) > 1:
            self.pick = operator.itemgetter(*indexes)
        else:
            self.pick = operator.itemgetter(slice(indexes[0], indexes[0] + 1) if indexes
                                            else slice(0, 0))
        self.keep_all = len(self.allowed) == len(keys)
        self.denied = tuple((k, decided[k].reason.value if k in decided else "denied_no_basis")
                            for k in keys if k not in self.allowed_set)
        # Where the balance's fragment is, when it is released (its value is counted).
        self.balance = (4 + keys.index(BALANCE_FIELD) if BALANCE_FIELD in self.allowed_set
                        else None)
        self.counted = self.carried = self.first = 0

    def tally(self, tally: _Tally) -> None:
        for key, reason in self.denied:
            tally.denied[reason] += self.counted
            tally.denied_by_field[key][reason] += self.counted
        if self.carried:
            tally.records += self.carried
            tally.subjects[self.kind] += self.carried
            for key in self.allowed:
                tally.fields[key] += self.carried
            tally.items.update(self.allowed)
        if self.first:
            tally.first_subjects[self.kind] += self.first
            for key in self.allowed:
                tally.first_fields[key] += self.first


def _block_runs(plan: TransferPlan) -> list[tuple[int, int, str, list[int]]]:
    """The plan's blocks as runs in subject order: (first subject id, last subject id, kind,
    block ids) per batch and kind (a batch's blocks of one kind never overlap)."""
    runs: dict[tuple[int, str], list] = {}
    for block_id, batch_id, kind, first, last in (
            RecordBlock.objects.filter(plan=plan).order_by("first_subject_id")
            .values_list("id", "batch_id", "kind", "first_subject_id", "last_subject_id")):
        run = runs.setdefault((batch_id, kind), [first, last, kind, []])
        run[1] = last
        run[3].append(block_id)
    return sorted(tuple(run) for run in runs.values())


_BLOCKS_PER_READ = 8


def _run_blocks(kind: str, block_ids: list[int]) -> Iterator[tuple[bytes, list[bytes]]]:
    """(kind, stored lines) of each block of a run, in order."""
    kind_bytes = kind.encode()
    for start in range(0, len(block_ids), _BLOCKS_PER_READ):
        wanted = block_ids[start:start + _BLOCKS_PER_READ]
        blocks = dict(RecordBlock.objects.filter(pk__in=wanted).values_list("pk", "records"))
        for block_id in wanted:
            yield kind_bytes, block_lines(blocks.pop(block_id))


def _run_records(kind: str, block_ids: list[int]) -> Iterator[tuple[int, bytes, bytes]]:
    for kind_bytes, lines in _run_blocks(kind, block_ids):
        for line in lines:
            yield int(line[:line.index(b"\t")]), kind_bytes, line


def _plan_records(plan: TransferPlan) -> Iterator[tuple[bytes, Sequence[bytes]]]:
    """(kind, stored lines) for the records of the plan (`transfers.blocks`), in subject id
    order, a few decrypted blocks per run in memory. Batches usually hold disjoint ranges of
    subjects (new subjects are numbered as they arrive): then their runs are read one after
    the other, a whole block at a time; otherwise they are merged one record at a time."""
    runs = _block_runs(plan)
    if all(runs[i][0] > runs[i - 1][1] for i in range(1, len(runs))):
        for _first, _last, kind, block_ids in runs:
            yield from _run_blocks(kind, block_ids)
        return
    streams = [_run_records(kind, block_ids) for _first, _last, kind, block_ids in runs]
    for _subject_id, kind, line in heapq.merge(*streams, key=operator.itemgetter(0)):
        yield kind, (line,)


class _Answered:
    """The decisions of the subjects who answered for the plan, looked up in subject order
    (a merge: each lookup is for a subject id no smaller than the one before)."""

    def __init__(self, decisions: Iterator) -> None:
        self.decisions = decisions
        self.next_id, self.next_decided = -1, None
        self.advance_to(0)

    def advance_to(self, subject_id: int):
        """The decisions for ``subject_id`` if it answered, else None."""
        while self.next_id < subject_id:
            ref, self.next_decided = next(self.decisions, (None, None))
            self.next_id = _NO_MORE if ref is None else ref.id
        return self.next_decided if self.next_id == subject_id else None


class _Previous:
    """What earlier releases of the plan carried, looked up in subject order."""

    def __init__(self, items: Iterator) -> None:
        self.items = items
        self.next = next(items, None)

    def fields(self, subject_id: int) -> set[str] | frozenset[str]:
        while self.next is not None and self.next[0] < subject_id:
            self.next = next(self.items, None)
        if self.next is None or self.next[0] != subject_id:
            return _NOTHING
        carried: set[str] = set()
        while self.next is not None and self.next[0] == subject_id:
            carried.update(self.next[1])
            self.next = next(self.items, None)
        return carried


def _release_lines(release: Release, tally: _Tally
                   ) -> Iterator[tuple[list[bytes], list[tuple[int, _Shape]]]]:
    """(NDJSON lines, their items) per block of records: for each subject this release carries,
    its line, and its subject id with the shape that says which fields it carries.

    The records come in subject order from their blocks (`transfers.blocks`), merged with the
    decisions of the subjects who answered for the plan; every other subject gets the default
    decisions of its kind. The allowed fields are picked fragment by fragment and joined, no
    value is parsed or re-encoded; the decisions and counts are worked out once per shape
    (decisions x stored keys) and the tallies added up per shape at the end."""
    plan = release.plan
    defaults = {kind.encode(): decided for kind, decided
                in plan_default_decisions(plan, now=release.as_of).items()}
    answered = _Answered(plan_decisions(plan, now=release.as_of, answered_only=True))
    previous = _Previous(_previously_released(plan, release))
    first_release = previous.next is None
    shapes: dict[int, dict[bytes, _Shape]] = {}  # id(decisions) -> stored keys -> shape

    def shape_for(kind: bytes, decided, stored_keys: bytes) -> _Shape:
        table = shapes.setdefault(id(decided), {})
        shape = table.get(stored_keys)
        if shape is None:
            keys = stored_keys.decode().split(",") if stored_keys else []
            shape = table[stored_keys] = _Shape(kind.decode(), decided, keys)
        return shape

    balance_sum = first_balance_sum = 0  # added to the tally at the end (locals are faster)
    try:
        for kind, stored_lines in _plan_records(plan):
            default = defaults.get(kind)
            default_shapes = shapes.setdefault(id(default), {})
            out_lines: list[bytes] = []
            out_items: list[tuple[int, _Shape]] = []
            for stored in stored_lines:
                # subject id, public id, external id, keys, then the fragments (if any)
                head = stored.split(b"\t")
                subject_id = int(head[0])
                decided = (answered.advance_to(subject_id)
                           if subject_id >= answered.next_id else None)
                if decided is None:
                    if default is None:
                        continue  # no rule for this kind: nothing released (deny by default)
                    shape = default_shapes.get(head[3]) or shape_for(kind, default, head[3])
                else:
                    shape = shape_for(kind, decided, head[3])
                carried = _NOTHING if first_release else previous.fields(subject_id)
                if carried and shape.allowed_set <= carried:
                    continue  # nothing new for this subject since an earlier release
                shape.counted += 1
                if not shape.allowed:
                    continue
                shape.carried += 1
                balance = 0
                if shape.balance is not None:
                    balance = int(head[shape.balance][_BALANCE_VALUE_AT:])
                    balance_sum += balance
                if shape.keep_all:
                    fields = b",".join(head[4:])
                else:
                    fields = b",".join(shape.pick(head))
                if not carried:
                    shape.first += 1
                    first_balance_sum += balance
                else:
                    new_fields = [k for k in shape.allowed if k not in carried]
                    tally.first_fields.update(new_fields)
                    if BALANCE_FIELD in new_fields:
                        first_balance_sum += balance
                out_lines.append(_LINE % (head[1], kind, head[2], fields))
                out_items.append((subject_id, shape))
            if out_lines:
                yield out_lines, out_items
    finally:
        tally.balance_sum += balance_sum
        tally.first_balance_sum += first_balance_sum
        for shape in shapes.values():
            for one in shape.values():
                one.tally(tally)


def _groups_insert(release_id: int, chunk: int, items: list[tuple[int, _Shape]]) -> None:
    """The chunk's subjects, one row per field set (they come in subject order)."""
    by_shape: dict[tuple[str, ...], list[int]] = {}
    for subject_id, shape in items:
        by_shape.setdefault(shape.allowed, []).append(subject_id)
    ReleaseGroup.objects.bulk_create(
        ReleaseGroup(release_id=release_id, chunk=chunk, fields=list(allowed),
                     subject_ids=ReleaseGroup.pack_ids(subject_ids),
                     first_subject_id=subject_ids[0],
                     last_subject_id=subject_ids[-1], subject_count=len(subject_ids))
        for allowed, subject_ids in by_shape.items())


def _b64(raw: bytes) -> str:
    import base64

    return base64.b64encode(raw).decode("ascii")


def _iso(value) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _manifest(release: Release, tally: _Tally, chunks: list[dict]) -> dict[str, Any]:
    plan = release.plan
    source = UploadBatch.objects.filter(upload__plan=plan).aggregate(
        balance=Sum("balance_sum"))
    manifest: dict[str, Any] = {
        "format": fmt.FORMAT,
        "release": {"id": str(release.public_id), "number": release.number,
                    "as_of": _iso(release.as_of), "incremental": not release.rehearsal},
        "rehearsal": release.rehearsal,
        "plan": {"id": plan.pk, "lineage": str(plan.lineage), "version": plan.version,
                 "title": plan.title, "from": plan.from_operator.code,
                 "to": release.recipient.code},
        "recipient": {"operator": release.recipient.code,
                      "key_id": release.recipient_key.key_id},
        "suite": fmt.SUITE_DESCRIPTION,
        "signing_key_id": service_key_id(),
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
            "source_accepted_balance_sum": source["balance"] or 0,
        },
    }
    if release.rehearsal:
        manifest["stamp"] = fmt.REHEARSAL_STAMP
    return manifest
