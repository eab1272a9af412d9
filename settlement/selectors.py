"""Reads of the settlement app: refund cases, what a user's accepted balance is, and the
disposition of every won of a plan (`settlement.disposition`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from governance.models import DataSubject, SubjectConsentState, TransferPlan
from settlement.models import RefundCase
from transfers.models import Record, Release
from transfers.selectors import releases_carried
from transfers.validation import BALANCE_FIELD


def refund_withheld_subject_ids(plan: TransferPlan) -> set[int]:
    """The subjects of ``plan``'s lineage with a refund case, open or refunded: they never
    move (the release path skips them, `transfers.services.release_lines.RELEASE_WITHHOLD`)."""
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
    """Whether a release (not a rehearsal) of the plan's lineage carried the subject's
    balance: then it has moved and cannot be refunded here."""
    release_ids = list(Release.objects.filter(plan__lineage=plan.lineage, rehearsal=False,
                                              status=Release.Status.READY)
                       .values_list("pk", flat=True))
    carried = releases_carried(release_ids, {subject.pk})
    return any(BALANCE_FIELD in fields.get(subject.pk, ()) for fields in carried.values())
