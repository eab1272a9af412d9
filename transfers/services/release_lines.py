"""Which lines a release carries: the plan's records read from their blocks in subject order,
each kept to the fields the policy allows at the release's time, and the tallies the manifest
counts. Used by `transfers.services.releases`, which writes them out."""

from __future__ import annotations

import bisect
import heapq
import itertools
import operator
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from governance.models import TransferPlan
from governance.policy import Decision
from governance.selectors import (
    plan_decisions,
    plan_default_decisions,
    plan_notice_stages,
    plan_withheld,
)
from transfers.blocks import (
    COLUMN_SEPARATOR,
    EXTERNAL_ID,
    KEYS,
    PUBLIC_ID,
    RELEASE_LINE,
    SUBJECT_ID,
    FieldPick,
    block_lines,
    fragment_value_at,
    line_subject_id,
    stored_keys,
)
from transfers.models import RecordBlock, Release
from transfers.selectors import release_subjects
from transfers.services.corrections import corrected_awaiting_release
from transfers.validation import BALANCE_FIELD


@dataclass
class Tally:
    """What a release carried and held back, counted for its manifest."""

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
    # Subjects carried again because the source corrected a record the recipient could not
    # apply (transfers.services.corrections); marked carried with the release.
    corrected: set = field(default_factory=set)


def _previously_released(plan: TransferPlan, release: Release
                         ) -> Iterator[tuple[int, list[str]]]:
    """(subject id, field keys) carried by the plan's earlier releases, in subject order."""
    # A rehearsal's releases are incremental like the real ones (it rehearses the real thing);
    # they only never reach a register.
    earlier = (Release.objects.filter(plan__lineage=plan.lineage, status=Release.Status.READY)
               .exclude(pk=release.pk).order_by("pk").values_list("pk", flat=True))
    return heapq.merge(*(release_subjects(pk) for pk in earlier), key=operator.itemgetter(0))


_NOTHING: frozenset[str] = frozenset()
_NO_MORE = float("inf")  # no further subject answered
_BALANCE_VALUE_AT = fragment_value_at(BALANCE_FIELD)


class Shape:
    """What a release does with every record of one shape (same decisions, same stored keys):
    which stored fields it keeps (its `FieldPick`, transfers.blocks), what it denies and why,
    and the subjects it carried, in subject order: those not yet written to a chunk in
    ``ids`` (appended through ``add``; `ReleaseShapes.take` moves them to chunks) and the
    count of those already written in ``taken``. Records of the shape that carried nothing
    are counted in ``held``, subjects an earlier release carried already in ``again``."""

    __slots__ = ("kind", "pick", "fragments", "allowed", "allowed_set", "denied", "balance",
                 "ids", "add", "taken", "held", "again")

    def __init__(self, kind: str, decided: Mapping[str, Decision], keys: list[str]) -> None:
        self.kind = kind
        allowed = frozenset(k for k in keys if (d := decided.get(k)) is not None and d.allowed)
        self.pick = FieldPick(keys, allowed)
        self.fragments = self.pick.fragments  # read per line: one attribute, not two
        self.allowed, self.allowed_set = self.pick.kept, allowed
        self.denied = tuple((k, decided[k].reason.value if k in decided else "denied_no_basis")
                            for k in keys if k not in allowed)
        # Where the balance's fragment is, when it is released (its value is counted).
        self.balance = self.pick.column_of(keys, BALANCE_FIELD)
        # Never reassigned (take() deletes from it in place): ``add`` is bound to this list.
        self.ids: list[int] = []
        self.add = self.ids.append  # per line: one attribute, not two
        self.taken = self.held = self.again = 0

    @property
    def carried(self) -> int:
        return self.taken + len(self.ids)

    def tally(self, tally: Tally) -> None:
        carried = self.carried
        for key, reason in self.denied:
            tally.denied[reason] += carried + self.held
            tally.denied_by_field[key][reason] += carried + self.held
        if carried:
            tally.records += carried
            tally.subjects[self.kind] += carried
            for key in self.allowed:
                tally.fields[key] += carried
            tally.items.update(self.allowed)
        if first := carried - self.again:
            tally.first_subjects[self.kind] += first
            for key in self.allowed:
                tally.first_fields[key] += first


class _ShapeTable(dict):
    """Stored keys column -> the `Shape` of one decision set, made on first use."""

    def __init__(self, kind: bytes, decided: Mapping[str, Decision]) -> None:
        super().__init__()
        self.kind, self.decided = kind.decode(), decided

    def __missing__(self, keys_column: bytes) -> Shape:
        shape = self[keys_column] = Shape(self.kind, self.decided, stored_keys(keys_column))
        return shape


class ReleaseShapes:
    """The shapes of one release, in one table per decision set, and the subjects their lines
    carried that are not yet in a chunk (`take`).

    Decision sets are told apart by identity: the selectors share one read-only mapping among
    the subjects with the same inputs, so a release meets a handful. Each table holds its
    decision set, so no id in `by_id` can be reused for other decisions while the release
    runs; a selector that made a new mapping per subject would only cost a table each."""

    def __init__(self) -> None:
        self.by_id: dict[int, _ShapeTable] = {}

    def table(self, kind: bytes, decided: Mapping[str, Decision]) -> _ShapeTable:
        table = self.by_id.get(id(decided))
        if table is None:
            table = self.by_id[id(decided)] = _ShapeTable(kind, decided)
        return table

    def all(self) -> Iterator[Shape]:
        for table in self.by_id.values():
            yield from table.values()

    def take(self, count: int) -> dict[tuple[str, ...], list[int]]:
        """The subjects of the first ``count`` lines not yet in a chunk, ascending, by the
        fields their lines carry; they count as in a chunk from now on.

        The lines go out in subject order, one per subject (a plan holds one record per
        subject), so those subjects are the ``count`` smallest ids over all the shapes'
        pending ids: found by halving the id range (a bisection per shape for each step),
        without a row per line."""
        if count <= 0:
            return {}
        pending = [shape for shape in self.all() if shape.ids]
        total = sum(len(shape.ids) for shape in pending)
        if count > total:
            raise ValueError(f"{count} lines asked for, {total} pending")
        lo, hi = (min(shape.ids[0] for shape in pending),
                  max(shape.ids[-1] for shape in pending)) if pending else (0, 0)
        while lo < hi:  # the smallest id with ``count`` pending ids up to it
            mid = (lo + hi) // 2
            if sum(bisect.bisect_right(shape.ids, mid) for shape in pending) >= count:
                hi = mid
            else:
                lo = mid + 1
        parts: dict[tuple[str, ...], list[list[int]]] = defaultdict(list)
        for shape in pending:
            up_to = bisect.bisect_right(shape.ids, lo)
            if up_to:
                parts[shape.allowed].append(shape.ids[:up_to])
                del shape.ids[:up_to]  # in place: ``add`` stays bound to it
                shape.taken += up_to
        groups = {allowed: ids[0] if len(ids) == 1 else sorted(itertools.chain(*ids))
                  for allowed, ids in parts.items()}
        if sum(map(len, groups.values())) != count:  # a subject twice: the cut is unknowable
            raise RuntimeError(f"{count} lines, but the subjects up to id {lo} are not as many")
        return groups


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


def _run_plaintexts(block_ids: list[int]) -> Iterator[bytes]:
    """The decrypted plaintext of each block of a run, in order, a few per query."""
    for start in range(0, len(block_ids), _BLOCKS_PER_READ):
        wanted = block_ids[start:start + _BLOCKS_PER_READ]
        blocks = dict(RecordBlock.objects.filter(pk__in=wanted).values_list("pk", "records"))
        for block_id in wanted:
            yield blocks.pop(block_id)


def _run_blocks(kind: str, block_ids: list[int]) -> Iterator[tuple[bytes, list[bytes]]]:
    """(kind, stored lines) of each block of a run, in order."""
    kind_bytes = kind.encode()
    for lines in map(block_lines, _run_plaintexts(block_ids)):
        yield kind_bytes, lines


def _run_records(kind: str, block_ids: list[int]) -> Iterator[tuple[int, bytes, bytes]]:
    for kind_bytes, lines in _run_blocks(kind, block_ids):
        for line in lines:
            yield line_subject_id(line), kind_bytes, line


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


def release_lines(release: Release, tally: Tally, shapes: ReleaseShapes
                  ) -> Iterator[list[bytes]]:
    """The NDJSON lines of the release, a block of records at a time: one line for each
    subject this release carries, in subject order. Each line's subject goes to its shape in
    ``shapes`` (`ReleaseShapes.take` says which subjects a chunk of lines holds).

    The records come in subject order from their blocks (`transfers.blocks`), merged with the
    decisions of the subjects who answered for the plan; a subject whom the notice reached
    and who answered nothing gets its kind's decisions for its notice stage (looked up per
    block, `NoticeStages.between`), every other subject the default decisions of its
    kind. The allowed fields are picked fragment by fragment and joined, no value is parsed
    or re-encoded; the decisions and counts are worked out once per shape (decisions x
    stored keys) and the tallies added up per shape at the end."""
    plan = release.plan
    defaults = {kind.encode(): decided for kind, decided
                in plan_default_decisions(plan, now=release.as_of).items()}
    notified = plan_notice_stages(plan, now=release.as_of)
    answered = _Answered(plan_decisions(plan, now=release.as_of, answered_only=True))
    previous = _Previous(_previously_released(plan, release))
    first_release = previous.next is None
    withheld = plan_withheld(plan)  # never move, whatever the policy says
    # Corrected records go again although an earlier release carried the subject.
    corrected = corrected_awaiting_release(plan)
    tables = shapes.by_id  # looked up per line: the bound dict, not a method call

    # Added to the tally at the end (locals are faster). The balances of subjects carried
    # again whose balance an earlier release carried already are not carried for the first
    # time.
    balance_sum = balance_again = 0
    next_answered = answered.next_id
    try:
        for kind, stored_lines in _plan_records(plan):
            default = defaults.get(kind)
            default_table = shapes.table(kind, default) if default is not None else None
            reached = notified.between(kind.decode(), line_subject_id(stored_lines[0]),
                                       line_subject_id(stored_lines[-1]))
            last_decided = last_table = None  # neighbours mostly share their decisions
            out_lines: list[bytes] = []
            for stored in stored_lines:
                columns = stored.split(COLUMN_SEPARATOR)  # transfers.blocks.stored_columns
                subject_id = int(columns[SUBJECT_ID])
                if withheld and subject_id in withheld:
                    continue
                if subject_id >= next_answered:
                    decided = answered.advance_to(subject_id)
                    next_answered = answered.next_id
                else:
                    decided = None
                if decided is None and reached:
                    decided = reached.get(subject_id)
                if decided is None:
                    if default_table is None:
                        continue  # no rule for this kind: nothing released (deny by default)
                    table = default_table
                elif decided is last_decided:
                    table = last_table
                else:
                    table = tables.get(id(decided)) or shapes.table(kind, decided)
                    last_decided, last_table = decided, table
                shape = table[columns[KEYS]]
                carried = _NOTHING if first_release else previous.fields(subject_id)
                if carried and shape.allowed_set <= carried:
                    if not corrected or subject_id not in corrected:
                        continue  # nothing new for this subject since an earlier release
                if not shape.allowed:
                    shape.held += 1
                    continue
                shape.add(subject_id)
                if corrected and subject_id in corrected:
                    tally.corrected.add(subject_id)
                if (at := shape.balance) is not None:
                    balance = int(columns[at][_BALANCE_VALUE_AT:])
                    balance_sum += balance
                    if carried and BALANCE_FIELD in carried:
                        balance_again += balance
                if carried:
                    shape.again += 1
                    tally.first_fields.update(k for k in shape.allowed if k not in carried)
                # transfers.blocks.release_line, inline: the innermost step of the export
                out_lines.append(RELEASE_LINE % (columns[PUBLIC_ID], kind, columns[EXTERNAL_ID],
                                                 b",".join(shape.fragments(columns))))
            if out_lines:
                yield out_lines
    finally:
        tally.balance_sum += balance_sum
        tally.first_balance_sum += balance_sum - balance_again
        for shape in shapes.all():
            shape.tally(tally)
