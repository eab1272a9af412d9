"""Reads of the transfers app: what an operator may see, totals, reconciliation, pages."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from governance.models import Operator, TransferPlan
from governance.selectors import plan_decisions
from transfers import format as fmt
from transfers.models import (
    Acknowledgement,
    DeletionNotice,
    Record,
    Release,
    ReleaseItem,
    Upload,
    UploadBatch,
)


def plans_visible_to(operator: Operator) -> QuerySet[TransferPlan]:
    """Plans where the operator is the source or the recipient (never drafts)."""
    return (TransferPlan.objects
            .filter(Q(from_operator=operator) | Q(to_operator=operator))
            .exclude(status__in=(TransferPlan.Status.DRAFT, TransferPlan.Status.SUBMITTED))
            .select_related("from_operator", "to_operator").order_by("-created_at"))


def _accepted(batches: QuerySet[UploadBatch]) -> dict[str, Any]:
    subjects: Counter = Counter()
    fields: Counter = Counter()
    rejected = 0
    for kinds, per_field, n_rejected in batches.values_list("kind_counts", "field_counts",
                                                            "rejected_count"):
        subjects.update(kinds)
        fields.update(per_field)
        rejected += n_rejected
    balance = batches.aggregate(s=Sum("balance_sum"))["s"] or 0
    return {"records": sum(subjects.values()), "subjects": dict(sorted(subjects.items())),
            "fields": dict(sorted(fields.items())), "certificate_balance_sum": balance,
            "rejected_rows": rejected}


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
    released: int | None
    acknowledged: int | None
    problem: str  # "" when the figures agree

    @property
    def ok(self) -> bool:
        return not self.problem


def plan_reconciliation(plan: TransferPlan) -> list[ReconciliationRow]:
    """Source declared, accepted upload, released and acknowledged figures side by side.

    Declared must equal accepted (a gap is rejected rows or an error at the source);
    acknowledged must equal released for every release the recipient acknowledged (its
    latest acknowledgement counts); released can be lower than accepted only by denials.
    """
    uploads = Upload.objects.filter(plan=plan)
    declared: dict[str, int] = {}
    any_declared = False
    for totals in uploads.values_list("declared_totals", flat=True):
        if not totals:
            continue
        any_declared = True
        for kind, n in (totals.get("subjects") or {}).items():
            declared[f"subjects.{kind}"] = declared.get(f"subjects.{kind}", 0) + n
        if "certificate_balance_sum" in totals:
            declared["certificate_balance_sum"] = (
                declared.get("certificate_balance_sum", 0) + totals["certificate_balance_sum"])
    accepted_raw = _accepted(UploadBatch.objects.filter(upload__plan=plan))
    accepted = _flatten(accepted_raw)
    released: dict[str, int] = {}
    acknowledged: dict[str, int] = {}
    unacknowledged = 0
    for release in Release.objects.filter(plan=plan, status=Release.Status.READY):
        manifest = json.loads(bytes(release.manifest))
        figures = _flatten({"records": manifest["counts"]["records"],
                            "subjects": manifest["counts"]["subjects"],
                            "fields": manifest["counts"]["fields"],
                            "certificate_balance_sum":
                                manifest["control_totals"]["certificate_balance_sum"]})
        _add(released, figures)
        ack = release.acknowledgements.order_by("-received_at", "-id").first()
        if ack is None:
            unacknowledged += 1
        else:
            _add(acknowledged, _flatten(ack.totals))
    rows = []
    metrics = sorted(set(declared) | set(accepted) | set(released) | set(acknowledged),
                     key=_metric_order)
    for metric in metrics:
        d = declared.get(metric) if any_declared and metric in declared else None
        a, r = accepted.get(metric), released.get(metric, 0)
        k = acknowledged.get(metric, 0) if acknowledged else None
        problems = []
        if d is not None and a is not None and d != a:
            problems.append("신고 ≠ 수락 (declared ≠ accepted)")
        if k is not None and k != r and not unacknowledged:
            problems.append("제공 ≠ 수령 확인 (released ≠ acknowledged)")
        if a is not None and r > a:
            problems.append("제공 > 수락 (released more than accepted)")
        rows.append(ReconciliationRow(metric, d, a, r, k, "; ".join(problems)))
    return rows


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


def release_records_page(release: Release, *, after: int, limit: int, now=None
                         ) -> tuple[list[dict[str, Any]], int | None, int]:
    """A page of a release's records in the clear (for small pulls over TLS), in subject
    order after the cursor. Each field is checked against policy again now: a field denied
    since the release was built is withheld. Returns (records, next cursor, withheld)."""
    now = now or timezone.now()
    items = list(ReleaseItem.objects.filter(release=release, subject_id__gt=after)
                 .order_by("subject_id").values_list("subject_id", "fields")[:limit + 1])
    more = len(items) > limit
    items = items[:limit]
    ids = [sid for sid, _ in items]
    values = dict(Record.objects.filter(plan=release.plan_id, subject_id__in=ids)
                  .values_list("subject_id", "values"))
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
            out.append(json.loads(fmt.record_line(
                public_id=ref.public_id, kind=ref.kind, external_id=ref.external_id,
                fields={k: values[sid][k] for k in allowed})))
    return out, (ids[-1] if more and ids else None), withheld


def deletion_feed(plan: TransferPlan, *, after: int, limit: int) -> list[DeletionNotice]:
    return list(DeletionNotice.objects.filter(plan__lineage=plan.lineage, id__gt=after)
                .select_related("subject").order_by("id")[:limit])


def unconfirmed_deletions() -> QuerySet[DeletionNotice]:
    return DeletionNotice.objects.filter(confirmed_at__isnull=True)


def latest_acknowledgement(release: Release) -> Acknowledgement | None:
    return release.acknowledgements.order_by("-received_at", "-id").first()
