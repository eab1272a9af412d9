"""Reads of the transfers app: what an operator may see, totals, reconciliation, pages."""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import json
import operator
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Min, Q, QuerySet
from django.utils import timezone

from governance.models import Operator, TransferPlan
from governance.selectors import plan_decisions, plan_notice_kinds, subject_notified
from transfers.blocks import block_records, record_values, release_record
from transfers.models import (
    Acknowledgement,
    DeletionNotice,
    DeletionScan,
    Record,
    RecordBlock,
    Release,
    ReleaseGroup,
    Upload,
    UploadBatch,
)


def plans_visible_to(operator: Operator) -> QuerySet[TransferPlan]:
    """Plans where the operator is the source or the recipient (never drafts)."""
    return (TransferPlan.objects
            .filter(Q(from_operator=operator) | Q(to_operator=operator))
            .exclude(status__in=(TransferPlan.Status.DRAFT, TransferPlan.Status.SUBMITTED))
            .select_related("from_operator", "to_operator").order_by("-created_at"))


def plan_get_for(*, operator: Operator, plan_id: int, role: str | None = None
                 ) -> TransferPlan | None:
    """The plan ``plan_id`` if ``operator`` may see it, in ``role`` ("source", "recipient")
    when given; None otherwise (the API answers 404 either way)."""
    plans = plans_visible_to(operator).filter(pk=plan_id)
    if role == "source":
        plans = plans.filter(from_operator=operator)
    elif role == "recipient":
        plans = plans.filter(to_operator=operator)
    return plans.first()


def upload_get_for(*, operator: Operator, upload_id) -> Upload | None:
    """An upload ``operator`` made as the source of its plan, or None."""
    return Upload.objects.filter(public_id=upload_id, operator=operator,
                                 plan__from_operator=operator).first()


def release_get_for(*, operator: Operator, release_id) -> Release | None:
    """A release addressed to ``operator`` as the recipient of its plan, or None."""
    return (Release.objects.filter(public_id=release_id, recipient=operator,
                                   plan__to_operator=operator)
            .select_related("plan", "recipient_key").first())


def releases_of(plan: TransferPlan) -> QuerySet[Release]:
    return Release.objects.filter(plan=plan).select_related("recipient_key")


def batch_get_for(*, upload: Upload, batch_id: str) -> UploadBatch | None:
    return upload.batches.filter(batch_id=batch_id).first()


def deletion_notice_get_for(*, operator: Operator, notice_id: int) -> DeletionNotice | None:
    """A deletion request addressed to ``operator``, or None."""
    return DeletionNotice.objects.filter(pk=notice_id, recipient=operator).first()


def _accepted(batches: QuerySet[UploadBatch]) -> dict[str, Any]:
    subjects: Counter = Counter()
    fields: Counter = Counter()
    rejected = 0
    for kinds, per_field, n_rejected in batches.values_list("kind_counts", "field_counts",
                                                            "rejected_count"):
        subjects.update(kinds)
        fields.update(per_field)
        rejected += n_rejected
    balance = balance_sum_of(batches)
    return {"records": sum(subjects.values()), "subjects": dict(sorted(subjects.items())),
            "fields": dict(sorted(fields.items())), "certificate_balance_sum": balance,
            "rejected_rows": rejected}


def balance_sum_of(batches: QuerySet[UploadBatch]) -> int:
    """The certificate balance held by ``batches``, summed in Python: a plan has a few hundred
    batches, and Python's integers cannot overflow where SQLite's SUM() raises at 2**63."""
    return sum(batches.values_list("balance_sum", flat=True))


def upload_totals(upload: Upload) -> dict[str, Any]:
    """Declared against accepted, for one upload."""
    accepted = _accepted(UploadBatch.objects.filter(upload=upload))
    declared = upload.declared_totals or {}
    mismatches = []
    for kind, n in sorted((declared.get("subjects") or {}).items()):
        if accepted["subjects"].get(kind, 0) != n:
            mismatches.append({"metric": f"subjects.{kind}", "declared": n,
                               "accepted": accepted["subjects"].get(kind, 0)})
    if "certificate_balance_sum" in declared and (
            declared["certificate_balance_sum"] != accepted["certificate_balance_sum"]):
        mismatches.append({"metric": "certificate_balance_sum",
                           "declared": declared["certificate_balance_sum"],
                           "accepted": accepted["certificate_balance_sum"]})
    return {"declared": declared, "accepted": accepted, "mismatches": mismatches,
            "matches": bool(declared) and not mismatches}


@dataclass
class ReconciliationRow:
    metric: str
    declared: int | None
    accepted: int | None
    moved: int          # what the recipient received, each subject and field once
    released: int       # what the releases carried, summed (a re-sent subject counts again)
    acknowledged: int | None  # what the recipient signed for, summed (None: nothing yet)
    problem: str  # "" when the figures agree

    @property
    def ok(self) -> bool:
        return not self.problem


def plan_reconciliation(plan: TransferPlan) -> list[ReconciliationRow]:
    """Source declared, accepted upload, moved, released and acknowledged figures.

    Three checks per figure: declared must equal accepted (a gap is rejected rows or an error
    at the source); what moved (each subject and field counted once, from the manifests'
    ``first_time`` counts) can be lower than accepted only by denials, never higher; and for
    every release the recipient acknowledged, its signed totals must equal the manifest's.
    """
    declared, families = _declared(plan)
    accepted = _flatten(_accepted(UploadBatch.objects.filter(upload__plan=plan)))
    moved: dict[str, int] = {}
    released: dict[str, int] = {}
    released_acknowledged: dict[str, int] = {}
    acknowledged: dict[str, int] = {}
    ready = list(Release.objects.filter(plan=plan, status=Release.Status.READY)
                 .order_by("number"))
    for release in ready:
        manifest = json.loads(bytes(release.manifest))
        figures = _manifest_figures(manifest["counts"], manifest["control_totals"])
        _add(released, figures)
        first = manifest["counts"].get("first_time")
        _add(moved, _flatten(first) if first else figures)
        ack = release.acknowledgements.order_by("-received_at", "-id").first()
        if ack is not None:
            _add(released_acknowledged, figures)
            _add(acknowledged, _flatten(ack.totals))
    metrics = sorted(set(declared) | set(accepted) | set(released) | set(acknowledged),
                     key=_metric_order)
    rows = []
    for metric in metrics:
        # A kind the source sent but did not declare counts as declared zero.
        d = declared.get(metric, 0) if metric.split(".")[0] in families else None
        a = accepted.get(metric, 0)
        m, r = moved.get(metric, 0), released.get(metric, 0)
        k = acknowledged.get(metric, 0) if acknowledged else None
        problems = []
        if d is not None and d != a:
            problems.append("신고 ≠ 수락 (declared ≠ accepted)")
        if m > a:
            problems.append("이전 > 수락 (moved more than accepted)")
        if k is not None and k != released_acknowledged.get(metric, 0):
            problems.append("제공 ≠ 수령 확인 (released ≠ acknowledged)")
        rows.append(ReconciliationRow(metric, d, a, m, r, k, "; ".join(problems)))
    return rows


def _declared(plan: TransferPlan) -> tuple[dict[str, int], set[str]]:
    """The source's declared figures, and which of them it declared at all ("subjects",
    "certificate_balance_sum"): it declares subjects per kind and the balance, nothing else."""
    declared: dict[str, int] = {}
    families: set[str] = set()
    for totals in Upload.objects.filter(plan=plan).values_list("declared_totals", flat=True):
        for kind, n in ((totals or {}).get("subjects") or {}).items():
            families.add("subjects")
            declared[f"subjects.{kind}"] = declared.get(f"subjects.{kind}", 0) + n
        if "certificate_balance_sum" in (totals or {}):
            families.add("certificate_balance_sum")
            declared["certificate_balance_sum"] = (
                declared.get("certificate_balance_sum", 0) + totals["certificate_balance_sum"])
    return declared, families


def _manifest_figures(counts: dict[str, Any], control: dict[str, Any]) -> dict[str, int]:
    return _flatten({"records": counts["records"], "subjects": counts["subjects"],
                     "fields": counts["fields"],
                     "certificate_balance_sum": control["certificate_balance_sum"]})


def _metric_order(metric: str) -> tuple[int, str]:
    order = ("records", "subjects.", "certificate_balance_sum", "fields.")
    for i, prefix in enumerate(order):
        if metric.startswith(prefix):
            return i, metric
    return len(order), metric


def _flatten(totals: dict[str, Any]) -> dict[str, int]:
    flat: dict[str, int] = {}
    for key in ("records", "certificate_balance_sum"):
        if isinstance(totals.get(key), int):
            flat[key] = totals[key]
    for key in ("subjects", "fields"):
        for sub, n in (totals.get(key) or {}).items():
            if isinstance(n, int):
                flat[f"{key}.{sub}"] = n
    return flat


def _add(into: dict[str, int], figures: dict[str, int]) -> None:
    for key, n in figures.items():
        into[key] = into.get(key, 0) + n


def records_values(*, plan_id: int, subject_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Subject id -> the values uploaded for it under the plan (decrypted: for small pages)."""
    wanted = set(subject_ids)
    block_ids = set(Record.objects.filter(plan_id=plan_id, subject_id__in=wanted)
                    .values_list("block_id", flat=True))
    found = {}
    for plaintext in RecordBlock.objects.filter(id__in=block_ids).values_list("records",
                                                                              flat=True):
        for stored in block_records(plaintext):
            if stored.subject_id in wanted:
                found[stored.subject_id] = record_values(stored)
    return found


def release_subjects(release_id: int, *, after: int = -1) -> Iterator[tuple[int, list[str]]]:
    """(subject id, field keys) for each subject the release carried with an id above
    ``after``, in subject order: one chunk's groups in memory at a time (a release is written
    in subject order, so its chunks hold consecutive ranges of subjects)."""
    groups = ReleaseGroup.objects.filter(release_id=release_id)
    numbers = sorted(set(groups.filter(last_subject_id__gt=after)
                         .values_list("chunk", flat=True)))
    for number in numbers:
        carried = [(subject_id, fields) for fields, packed
                   in groups.filter(chunk=number).values_list("fields", "subject_ids")
                   for subject_id in ReleaseGroup.unpack_ids(packed) if subject_id > after]
        carried.sort(key=operator.itemgetter(0))
        yield from carried


def releases_carried(release_ids: Iterable[int], subject_ids: set[int]
                     ) -> dict[int, dict[int, list[str]]]:
    """Release id -> subject id -> the field keys that release carried, for ``subject_ids``.

    Only the groups whose id range holds one of ``subject_ids`` are fetched and unpacked: the
    deletion search asks this every minute for a few subjects, and a bulk release has
    millions of ids in its groups.
    """
    if not subject_ids:
        return {}
    wanted = sorted(subject_ids)
    ranges = (ReleaseGroup.objects
              .filter(release_id__in=list(release_ids), first_subject_id__lte=wanted[-1],
                      last_subject_id__gte=wanted[0])
              .values_list("pk", "first_subject_id", "last_subject_id"))
    holding = [pk for pk, first, last in ranges.iterator(chunk_size=2000)
               if _holds_one_of(wanted, first, last)]
    carried: dict[int, dict[int, list[str]]] = {}
    for start in range(0, len(holding), 500):
        groups = (ReleaseGroup.objects.filter(pk__in=holding[start:start + 500])
                  .values_list("release_id", "fields", "subject_ids"))
        for release_id, fields, packed in groups.iterator(chunk_size=20):
            for subject_id in subject_ids.intersection(ReleaseGroup.unpack_ids(packed)):
                carried.setdefault(release_id, {})[subject_id] = fields
    return carried


def _holds_one_of(wanted: list[int], first: int, last: int) -> bool:
    """Whether the sorted ``wanted`` has an id in [first, last]."""
    at = bisect.bisect_left(wanted, first)
    return at < len(wanted) and wanted[at] <= last


def release_records_page(release: Release, *, after: int, limit: int, now=None
                         ) -> tuple[list[dict[str, Any]], int | None, int]:
    """A page of a release's records in the clear (for small pulls over TLS), in subject
    order after the cursor. Each field is checked against policy again now: a field denied
    since the release was built is withheld. Returns (records, next cursor, withheld)."""
    now = now or timezone.now()
    items = list(itertools.islice(release_subjects(release.pk, after=after), limit + 1))
    more = len(items) > limit
    items = items[:limit]
    ids = [sid for sid, _ in items]
    values = records_values(plan_id=release.plan_id, subject_ids=ids)
    decided = {ref.id: (ref, d) for ref, d in plan_decisions(release.plan, now=now,
                                                             subject_ids=ids)}
    out, withheld = [], 0
    for sid, fields in items:
        ref, decisions = decided.get(sid, (None, {}))
        if ref is None or sid not in values:
            withheld += len(fields)
            continue
        allowed = [k for k in fields if (d := decisions.get(k)) is not None and d.allowed]
        withheld += len(fields) - len(allowed)
        if allowed:
            out.append(release_record(
                public_id=ref.public_id, kind=ref.kind, external_id=ref.external_id,
                fields={k: values[sid][k] for k in allowed}))
    return out, (ids[-1] if more and ids else None), withheld


def deletion_feed(plan: TransferPlan, *, after: int, limit: int) -> list[DeletionNotice]:
    return list(DeletionNotice.objects.filter(plan__lineage=plan.lineage, id__gt=after)
                .select_related("subject").order_by("id")[:limit])


def plans_with_releases() -> list[TransferPlan]:
    """The newest decided version (not a draft or one awaiting approval) of each plan lineage
    that has released data (rehearsals too: their recipient holds what they carried):
    where deletions can be owed."""
    lineages = set(Release.objects.filter(status=Release.Status.READY)
                   .values_list("plan__lineage", flat=True))
    newest: dict[Any, TransferPlan] = {}
    undecided = (TransferPlan.Status.DRAFT, TransferPlan.Status.SUBMITTED)
    for plan in (TransferPlan.objects.filter(lineage__in=lineages).exclude(status__in=undecided)
                 .order_by("version")):
        newest[plan.lineage] = plan
    return list(newest.values())


# The deletion search runs every minute; this much silence means Celery beat is not running.
DELETION_SEARCH_OVERDUE = dt.timedelta(minutes=10)


def deletion_searches_overdue(now=None) -> int:
    """How many plans with released data have had no search for deletions owed for
    `DELETION_SEARCH_OVERDUE`: their withdrawals reach the recipient only when it polls the
    feed. A plan never searched counts from its first release (the next minute's search
    would have found it), so a release just made raises no alarm."""
    now = now or timezone.now()
    lineages = [p.lineage for p in plans_with_releases()]
    searched = dict(DeletionScan.objects.filter(lineage__in=lineages)
                    .values_list("lineage", "scanned_at"))
    first_released = dict(
        Release.objects.filter(status=Release.Status.READY, plan__lineage__in=lineages)
        .values("plan__lineage").annotate(first=Min("completed_at"))
        .values_list("plan__lineage", "first"))
    quiet_since = {lineage: searched.get(lineage) or first_released.get(lineage)
                   for lineage in lineages}
    return sum(1 for since in quiet_since.values()
               if since is None or since < now - DELETION_SEARCH_OVERDUE)


def unconfirmed_deletions() -> QuerySet[DeletionNotice]:
    return DeletionNotice.objects.filter(confirmed_at__isnull=True)


def latest_acknowledgement(release: Release) -> Acknowledgement | None:
    return release.acknowledgements.order_by("-received_at", "-id").first()


@dataclass(frozen=True)
class UnreachedSubject:
    """A subject the plan's Art. 27 notice is not known to have reached (no personal values)."""

    id: int
    external_id: str
    public_id: str
    kind: str


def notices_unreached(plan: TransferPlan, *, after: int, limit: int
                      ) -> tuple[list[UnreachedSubject], int | None]:
    """The subjects the source uploaded a record for under ``plan``, of a kind the plan's Art.
    27 notice concerns, whom no evidence shows it reached: after the subject id ``after``, in
    subject order, at most ``limit``, and the cursor of the next page (None: this was the
    last). Read along the records' unique (plan, subject) index, one notice probe each."""
    kinds = plan_notice_kinds(plan)
    if not kinds:
        return [], None
    rows = list(Record.objects
                .filter(plan_id=plan.pk, kind__in=sorted(kinds), subject_id__gt=after)
                .exclude(subject_notified(plan, "subject_id"))
                .order_by("subject_id")
                .values_list("subject_id", "subject__external_id", "subject__public_id",
                             "kind")[:limit + 1])
    page = [UnreachedSubject(*row) for row in rows[:limit]]
    return page, (page[-1].id if len(rows) > limit else None)


def plan_corrections(plan: TransferPlan, *, status: str | None, after: int, limit: int
                     ) -> tuple[list, int | None]:
    """The plan's correction requests after id ``after`` (all statuses when ``status`` is
    None), and the cursor of the next page (None: this was the last)."""
    from transfers.models import Correction

    rows = Correction.objects.filter(plan=plan, id__gt=after)
    if status:
        rows = rows.filter(status=status)
    page = list(rows.select_related("subject", "release").order_by("id")[:limit + 1])
    return page[:limit], (page[limit - 1].id if len(page) > limit else None)


def corrections_open_by_reason() -> list[tuple[str, str, int]]:
    """(reason code, label, how many) of the open correction requests of every plan: what
    recipients could not apply and sources have not corrected yet (the dashboard card)."""
    from django.db.models import Count

    from transfers.models import Correction

    counts = dict(Correction.objects.filter(status=Correction.Status.OPEN)
                  .values("reason").annotate(n=Count("id")).values_list("reason", "n"))
    return [(code, label, counts.get(code, 0)) for code, label in Correction.Reason.choices]
