"""Releases to the incoming operator: what policy allows now, encrypted to its key, with a
signed manifest. One release is built by one export job, all or nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import itertools
import json
import operator
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from django.conf import settings
from django.db import IntegrityError, connection, transaction
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
from transfers.models import RecordBlock, Release, ReleaseItem, UploadBatch
from transfers.services.common import Conflict, record, releases_dir
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


def _previously_released(plan: TransferPlan, release: Release
                         ) -> Iterator[tuple[int, list[str]]]:
    if release.rehearsal:
        return iter(())
    return (ReleaseItem.objects
            .filter(release__plan__lineage=plan.lineage, release__status=Release.Status.READY,
                    release__rehearsal=False)
            .exclude(release=release).order_by("subject_id")
            .values_list("subject_id", "fields").iterator(chunk_size=5000))


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
    limit = _chunk_records()
    items = _ItemsWriter(release.pk)

    def flush() -> None:
        number = len(chunks) + 1
        info = fmt.chunk_info(plan_id=plan.pk, plan_version=plan.version,
                              release_id=str(release.public_id), chunk=number,
                              recipient_key_id=release.recipient_key.key_id,
                              rehearsal=release.rehearsal)
        data = fmt.chunk_encrypt(b"\n".join(lines) + b"\n", public_key, info)
        name = fmt.chunk_name(number)
        (staging / name).write_bytes(data)
        chunks.append({"file": name, "info": _b64(info), "records": len(lines),
                       "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        lines.clear()

    try:
        add_item = items.add
        for line, subject_id, shape in _release_lines(release, tally, items.pause):
            lines.append(line)
            add_item(subject_id, shape)
            if len(lines) >= limit:
                flush()
        if lines:
            flush()
        items.close()
    except BaseException as exc:
        items.abort(exc)
        raise
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
# A release line (docs/release-format.md); the ids are letters, digits and ._:- (no escaping).
_LINE = b'{"subject":"%s","kind":"%s","external_id":"%s","fields":{%s}}'
# The balance's fragment is '"user.certificate_balance":<whole number>'.
_BALANCE_VALUE_AT = len(BALANCE_FIELD) + 3


class _Shape:
    """What a release does with every record of one shape (same decisions, same stored keys):
    which stored fields it keeps, what it denies and why, and how many records it counted."""

    __slots__ = ("kind", "allowed", "allowed_set", "indexes", "keep_all", "denied", "balance",
                 "items_copy", "counted", "carried", "first")

    def __init__(self, kind: str, decided, keys: list[str]) -> None:
        self.kind = kind
        self.allowed = tuple(k for k in keys if (d := decided.get(k)) is not None and d.allowed)
        self.allowed_set = frozenset(self.allowed)
        self.indexes = tuple(i for i, k in enumerate(keys) if k in self.allowed_set)
        self.keep_all = len(self.allowed) == len(keys)
        self.denied = tuple((k, decided[k].reason.value if k in decided else "denied_no_basis")
                            for k in keys if k not in self.allowed_set)
        # Where the balance's fragment is, when it is released (its value is counted).
        self.balance = keys.index(BALANCE_FIELD) if BALANCE_FIELD in self.allowed_set else None
        # The release item's "fields" as COPY text (backslashes doubled; JSON has no raw tab
        # or newline).
        self.items_copy = json.dumps(list(self.allowed)).replace("\\", "\\\\").encode()
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


def _run_records(kind: str, block_ids: list[int], before_read: Callable[[], None]
                 ) -> Iterator[tuple[int, bytes, bytes]]:
    kind_bytes = kind.encode()
    for start in range(0, len(block_ids), _BLOCKS_PER_READ):
        wanted = block_ids[start:start + _BLOCKS_PER_READ]
        before_read()
        blocks = dict(RecordBlock.objects.filter(pk__in=wanted).values_list("pk", "records"))
        for block_id in wanted:
            for line in block_lines(blocks.pop(block_id)):
                yield int(line[:line.index(b"\t")]), kind_bytes, line


def _read_ahead(rows: Iterator, size: int, before_read: Callable[[], None]) -> Iterator:
    """``rows`` pulled ``size`` at a time, each pull after ``before_read`` (so a server-side
    cursor fetches only while the items' COPY is paused)."""
    while True:
        before_read()
        taken = list(itertools.islice(rows, size))
        if not taken:
            return
        yield from taken


def _plan_records(plan: TransferPlan, before_read: Callable[[], None]
                  ) -> Iterator[tuple[int, bytes, bytes]]:
    """(subject id, kind, stored line) for each record of the plan (`transfers.blocks`), in
    subject id order, a few decrypted blocks per run in memory. Batches usually hold disjoint
    ranges of subjects (new subjects are numbered as they arrive), and then their runs are
    read one after the other; otherwise they are merged."""
    runs = _block_runs(plan)
    streams = [_run_records(kind, block_ids, before_read)
               for _first, _last, kind, block_ids in runs]
    disjoint = all(runs[i][0] > runs[i - 1][1] for i in range(1, len(runs)))
    if disjoint:
        return itertools.chain.from_iterable(streams)
    return heapq.merge(*streams, key=operator.itemgetter(0))


def _release_lines(release: Release, tally: _Tally, before_read: Callable[[], None]
                   ) -> Iterator[tuple[bytes, bytes, _Shape]]:
    """(NDJSON line, subject id as stored (ASCII digits), shape) for each subject this release
    carries; the shape says which fields it carries.

    The records come in subject order from their blocks (`transfers.blocks`), merged with the
    decisions of the subjects who answered for the plan; every other subject gets the default
    decisions of its kind. The allowed fields are picked fragment by fragment and joined, no
    value is parsed or re-encoded; the decisions and counts are worked out once per shape
    (decisions x stored keys) and the tallies added up per shape at the end. Every read calls
    ``before_read`` first."""
    plan = release.plan
    defaults = {kind.encode(): decided for kind, decided
                in plan_default_decisions(plan, now=release.as_of).items()}
    answered = _read_ahead(plan_decisions(plan, now=release.as_of, answered_only=True),
                           20_000, before_read)
    previous = _read_ahead(_previously_released(plan, release), 20_000, before_read)
    shapes: dict[tuple[int, bytes], _Shape] = {}
    ref, ref_decided = next(answered, (None, None))
    prev_id, prev_fields = -1, set()
    prev_next = next(previous, None)
    try:
        for subject_id, kind, stored in _plan_records(plan, before_read):
            while ref is not None and ref.id < subject_id:
                ref, ref_decided = next(answered, (None, None))
            if ref is not None and ref.id == subject_id:
                decided = ref_decided
            else:
                decided = defaults.get(kind)
                if decided is None:
                    continue  # no rule for this kind: nothing is released (deny by default)
            if prev_id != subject_id and prev_next is None:
                prev_fields, prev_id = _NOTHING, subject_id  # nothing earlier (first release)
            elif prev_id != subject_id:
                prev_fields = set()
                while prev_next is not None and prev_next[0] < subject_id:
                    prev_next = next(previous, None)
                while prev_next is not None and prev_next[0] == subject_id:
                    prev_fields.update(prev_next[1])
                    prev_next = next(previous, None)
                prev_id = subject_id
            # subject id, public id, external id, keys, then the fragments (if any)
            head = stored.split(b"\t", 4)
            stored_keys = head[3]
            shape = shapes.get((id(decided), stored_keys))
            if shape is None:
                keys = stored_keys.decode().split(",") if stored_keys else []
                shape = shapes[(id(decided), stored_keys)] = _Shape(kind.decode(), decided,
                                                                   keys)
            if prev_fields and shape.allowed_set <= prev_fields:
                continue  # nothing new for this subject since an earlier release
            shape.counted += 1
            if not shape.allowed:
                continue
            shape.carried += 1
            fragments = head[4].split(b"\t")
            balance = 0
            if shape.balance is not None:
                balance = int(fragments[shape.balance][_BALANCE_VALUE_AT:])
                tally.balance_sum += balance
            if not prev_fields:
                shape.first += 1
                tally.first_balance_sum += balance
            else:
                new_fields = [k for k in shape.allowed if k not in prev_fields]
                tally.first_fields.update(new_fields)
                if BALANCE_FIELD in new_fields:
                    tally.first_balance_sum += balance
            if shape.keep_all:
                fields = b",".join(fragments)
            else:
                fields = b",".join([fragments[i] for i in shape.indexes])
            yield (_LINE % (head[1], kind, head[2], fields), head[0], shape)
    finally:
        for shape in shapes.values():
            shape.tally(tally)


class _ItemsWriter:
    """Writes the release items. On PostgreSQL through a COPY kept open while the records are
    read, so that the server inserts the items (and their index entries) on its own core while
    this process builds the next lines; `pause` ends the COPY before any other query on the
    connection, and the next item opens a new one. Elsewhere: bulk_create in batches."""

    FLUSH = 2000

    def __init__(self, release_id: int) -> None:
        self.release_id = release_id
        self.pending: list[tuple[bytes, _Shape]] = []
        self.cursor = self.copy_context = self.copy = None
        self.postgres = connection.vendor == "postgresql"

    def add(self, subject_id: bytes, shape: _Shape) -> None:
        self.pending.append((subject_id, shape))
        if len(self.pending) >= self.FLUSH:
            self._write()

    def _write(self) -> None:
        if not self.pending:
            return
        if not self.postgres:
            ReleaseItem.objects.bulk_create(
                [ReleaseItem(release_id=self.release_id, subject_id=int(subject_id),
                             fields=list(shape.allowed)) for subject_id, shape in self.pending],
                batch_size=500)
            self.pending.clear()
            return
        if self.copy is None:
            sql = f"COPY {ReleaseItem._meta.db_table} (release_id, subject_id, fields) FROM STDIN"
            self.cursor = connection.cursor()
            self.copy_context = self.cursor.cursor.copy(sql)
            self.copy = self.copy_context.__enter__()
        prefix = b"%d\t" % self.release_id
        with connection.wrap_database_errors:
            self.copy.write(b"".join([prefix + subject_id + b"\t" + shape.items_copy + b"\n"
                                      for subject_id, shape in self.pending]))
        self.pending.clear()

    def pause(self) -> None:
        """Finish the open COPY, if any (before another query on this connection)."""
        if self.copy is not None:
            copy_context, self.copy, self.copy_context = self.copy_context, None, None
            with connection.wrap_database_errors:
                copy_context.__exit__(None, None, None)
            self.cursor.close()

    def close(self) -> None:
        self._write()
        self.pause()

    def abort(self, exc: BaseException) -> None:
        """Cancel an open COPY (the transaction is rolled back by the caller)."""
        if self.copy is not None:
            copy_context, self.copy, self.copy_context = self.copy_context, None, None
            try:
                copy_context.__exit__(type(exc), exc, exc.__traceback__)
            except Exception:  # noqa: S110 - the original error is what the caller reports
                pass
            self.cursor.close()


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
