"""Reads for the subject's pages about the Art. 27 path: how the notice reached them, their
request to move early, and whether a release has been made since.

Kept apart from `consent.selectors` (the link query the landing page's rush runs on): these
are read only on the status page and by the early-request services, never by the landing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from governance.models import (
    DataSubject,
    ProvisionRecord,
    SubjectConsentState,
    SubjectNotice,
    TransferPlan,
)


@dataclass(frozen=True)
class NoticeReached:
    """When and how the plan's Art. 27 notice first reached the subject, and when the
    notice period counted from then ends."""

    at: datetime
    channel: str
    period_ends_at: datetime


def subject_notice_reached(*, plan: TransferPlan, subject: DataSubject) -> NoticeReached | None:
    """The earliest evidence for the plan's lineage (`governance.SubjectNotice`), or None."""
    row = (SubjectNotice.objects.filter(lineage=plan.lineage, subject_id=subject.pk)
           .values_list("notified_at", "channel").first())
    if row is None:
        return None
    notified_at, channel = row
    return NoticeReached(at=notified_at, channel=channel,
                         period_ends_at=notified_at + plan.notice_period)


def subject_state(*, plan: TransferPlan, subject: DataSubject) -> SubjectConsentState | None:
    """The subject's whole state for the plan version (with ``early_requested_at``, which the
    page's link query does not read)."""
    return SubjectConsentState.objects.filter(plan_id=plan.pk, subject_id=subject.pk).first()


def provision_since(*, plan: TransferPlan, items: list[str], since: datetime
                    ) -> ProvisionRecord | None:
    """The first provision (a release, as the Decree Art. 15 register records it) of the plan
    version made at or after ``since`` that carried any of ``items``, or None.

    The consent app cannot read the transfers app (the layers), so it cannot ask which
    subjects a release carried; governance's register is the fact it can read. A register
    row is written in the transaction that finishes a release, dated when it finished, which
    is never before the moment the release's decisions were taken. So "no row since the early
    request" proves no release has carried that request; a row since it means the subject's
    items went with it unless their own record was missing from the upload, and the page
    then says the data has moved (or may have) rather than promise otherwise.
    """
    if not items:
        return None
    rows = (ProvisionRecord.objects.filter(plan_id=plan.pk, provided_from__gte=since)
            .order_by("provided_from", "id").only("id", "items", "provided_from", "reference"))
    wanted = set(items)
    for row in rows:
        if wanted & set(row.items or ()):
            return row
    return None
