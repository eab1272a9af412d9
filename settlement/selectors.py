"""Reads of the settlement app: refund cases, what a user's accepted balance is, and the
disposition of every won of a plan (`settlement.disposition`)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from governance.models import DataSubject, SubjectConsentState, TransferPlan
from settlement.models import PartyDeclaration, PartyRole, RefundCase
from transfers.models import Record, Release
from transfers.selectors import releases_carried
from transfers.validation import BALANCE_FIELD


def refund_withheld_subject_ids(plan: TransferPlan) -> set[int]:
    """The subjects of ``plan``'s lineage with a refund case, open or refunded: they never
    move (registered in `governance.selectors.withheld`: the release path skips them)."""
    return set(RefundCase.objects.filter(lineage=plan.lineage)
               .values_list("subject_id", flat=True))


def refund_cases(plan: TransferPlan) -> QuerySet[RefundCase]:
    return (RefundCase.objects.filter(lineage=plan.lineage).select_related("subject")
            .order_by("id"))


def refund_case_of(plan: TransferPlan, subject: DataSubject) -> RefundCase | None:
    return RefundCase.objects.filter(lineage=plan.lineage, subject=subject).first()


def refund_cases_page(plan: TransferPlan, *, after: int, limit: int, status: str | None = None
                      ) -> tuple[list[RefundCase], int | None]:
    """Refund cases of the plan's lineage after the case id ``after``, at most ``limit``, and
    the cursor of the next page (None: this was the last)."""
    cases = refund_cases(plan).filter(id__gt=after)
    if status:
        cases = cases.filter(status=status)
    rows = list(cases[:limit + 1])
    page = rows[:limit]
    return page, (page[-1].pk if len(rows) > limit else None)


@dataclass(frozen=True)
class OpenRefunds:
    count: int
    amount: int
    oldest_at: dt.datetime | None

    @property
    def oldest_age(self) -> dt.timedelta | None:
        return None if self.oldest_at is None else timezone.now() - self.oldest_at


def refunds_open_overview() -> list[tuple[TransferPlan, OpenRefunds]]:
    """Per plan with open refund cases: how many, the sum owed and the oldest request (for
    the dashboard: no subject is named)."""
    by_plan: dict[int, list[RefundCase]] = {}
    for case in (RefundCase.objects.filter(status=RefundCase.Status.REQUESTED)
                 .only("plan_id", "amount", "requested_at")):
        by_plan.setdefault(case.plan_id, []).append(case)
    plans = TransferPlan.objects.in_bulk(list(by_plan))
    return [(plans[plan_id], OpenRefunds(len(cases), sum(c.amount for c in cases),
                                         min(c.requested_at for c in cases)))
            for plan_id, cases in sorted(by_plan.items())]


def accepted_record(plan: TransferPlan, subject: DataSubject) -> Record | None:
    """The subject's accepted record under the newest version of ``plan``'s lineage that has
    one (where the refund amount comes from)."""
    return (Record.objects.filter(plan__lineage=plan.lineage, subject=subject)
            .order_by("-plan__version").select_related("plan").first())


def subject_objected(plan: TransferPlan, subject: DataSubject) -> bool:
    """Whether the subject objected (Art. 27) to any version of the plan."""
    return SubjectConsentState.objects.filter(plan__lineage=plan.lineage, subject=subject,
                                              objected=True).exists()


def balance_moved(plan: TransferPlan, subject: DataSubject) -> bool:
    """Whether a release of the plan's lineage carried the subject's balance: then it has
    moved (to the recipient, even in a rehearsal) and cannot be refunded here."""
    release_ids = list(Release.objects.filter(plan__lineage=plan.lineage,
                                              status=Release.Status.READY)
                       .values_list("pk", flat=True))
    carried = releases_carried(release_ids, {subject.pk})
    return any(BALANCE_FIELD in fields.get(subject.pk, ()) for fields in carried.values())


# --- Totals from every party, and where they differ -----------------------------------------

ROLE_ORDER = ("source", "subcontractor", "city", "recipient")
METRICS = ("subjects.merchant", "subjects.user", "certificate_balance_sum", "issuance_fee_sum")


def latest_declarations(plan: TransferPlan) -> dict[str, PartyDeclaration]:
    """Role -> the newest declaration that role made for ``plan``."""

    newest: dict[str, PartyDeclaration] = {}
    for declaration in (PartyDeclaration.objects.filter(plan=plan).select_related("operator")
                        .order_by("received_at", "id")):
        newest[declaration.role] = declaration
    return newest


def _declared_value(declaration, metric: str) -> int | None:
    if metric.startswith("subjects."):
        return (declaration.subjects or {}).get(metric.split(".", 1)[1])
    return declaration.balance_sum if metric == "certificate_balance_sum" else (
        declaration.fee_sum)


METRIC_LABELS = {"subjects.merchant": "가맹점 수", "subjects.user": "이용자 수",
                 "certificate_balance_sum": "상품권 잔액 합계 (원)",
                 "issuance_fee_sum": "발행 수수료 합계 (원)"}


def _moved_figures(plan: TransferPlan) -> dict[str, int | None]:
    """What the plan's ready releases moved, from their signed manifests and groups: the
    merchants carried for the first time, the users whose balance moved and that balance.
    Fees are in no record: None."""
    from settlement.disposition import _moved_subject_ids, _moved_won

    releases = list(Release.objects.filter(plan=plan, status=Release.Status.READY))
    merchants = sum(json.loads(bytes(r.manifest))["counts"]["first_time"]
                    .get("subjects", {}).get("merchant", 0) for r in releases)
    return {"subjects.merchant": merchants, "subjects.user": len(_moved_subject_ids(releases)),
            "certificate_balance_sum": _moved_won(releases), "issuance_fee_sum": None}


def declarations_side_by_side(plan: TransferPlan) -> dict:
    """Every party's newest totals next to what the service accepted, per metric, with each
    party's difference from its reference: for the source, its subcontractor and the city,
    the accepted figure (fees are not in the records: there the source's declared fee); for
    the recipient, what the releases moved to it (it never received the objectors' or the
    refunded users' balances; no fee reference), so a recipient that declares exactly what
    it received agrees."""
    from transfers.models import UploadBatch
    from transfers.selectors import balance_sum_of

    batches = UploadBatch.objects.filter(upload__plan=plan)
    kinds: dict[str, int] = {}
    for counts in batches.values_list("kind_counts", flat=True):
        for kind, n in (counts or {}).items():
            kinds[kind] = kinds.get(kind, 0) + n
    accepted = {"subjects.merchant": kinds.get("merchant", 0),
                "subjects.user": kinds.get("user", 0),
                "certificate_balance_sum": balance_sum_of(batches), "issuance_fee_sum": None}
    newest = latest_declarations(plan)
    roles = [role for role in ROLE_ORDER if role in newest]
    moved = _moved_figures(plan) if "recipient" in newest else {}
    rows = []
    for metric in METRICS:
        values = {role: _declared_value(newest[role], metric) for role in roles}
        reference = accepted[metric]
        if reference is None and "source" in values:
            reference = values["source"]
        references = {role: (moved[metric] if role == "recipient" else reference)
                      for role in roles}
        differences = {role: (None if v is None or references[role] is None
                              else v - references[role]) for role, v in values.items()}
        rows.append({"metric": metric, "label": METRIC_LABELS[metric],
                     "accepted": accepted[metric], "moved": moved.get(metric),
                     "values": values, "references": references, "differences": differences,
                     "agree": all(d in (0, None) for d in differences.values())})
    return {"plan": plan.pk, "parties": [
        {"role": role, "label": PartyRole(role).label, "operator": newest[role].operator.code,
         "as_of": newest[role].as_of, "received_at": newest[role].received_at,
         "key_id": newest[role].key.key_id}
        for role in roles], "rows": rows, "agree": all(r["agree"] for r in rows)}


def balance_lists_of(plan: TransferPlan):
    from settlement.models import BalanceList

    return BalanceList.objects.filter(plan=plan).select_related("operator").order_by("id")


def balance_differences_page(balance_list, *, after: int, limit: int):
    """A page of the list's differences in id order, and the cursor of the next page."""
    from settlement.models import BalanceDifference

    rows = list(BalanceDifference.objects.filter(balance_list=balance_list, id__gt=after)
                .select_related("subject").order_by("id")[:limit + 1])
    page = rows[:limit]
    return page, (page[-1].pk if len(rows) > limit else None)


def newest_statement(plan: TransferPlan):
    from settlement.models import SettlementStatement

    return (SettlementStatement.objects.filter(plan=plan).order_by("-created_at", "-id")
            .first())
