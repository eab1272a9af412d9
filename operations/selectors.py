"""Reads for the officers' dashboard: where every move stands, on one page.

Each section is a handful of aggregate queries, whatever the number of subjects: the page must
stay quick while a 270,000-merchant campaign is running.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consent.models import Campaign, ConsentRequest, InboundSms, SmsMessage
from consent.selectors_notice import NoticeReach, notice_reach, notice_reach_plans
from consent.services.campaigns import FUNNEL_LABELS, FUNNEL_STEPS, campaign_funnel
from governance.models import OwnershipDispute, TransferPlan
from transfers.models import Release
from transfers.selectors import (
    deletion_searches_overdue,
    plan_reconciliation,
    unconfirmed_deletions,
)

FUNNEL = [(step, FUNNEL_LABELS[step]) for step in FUNNEL_STEPS]


@dataclass
class CampaignProgress:
    campaign: Campaign
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def cells(self) -> list[tuple[str, int]]:
        return [(step, self.counts.get(step, 0)) for step in FUNNEL_STEPS]

    @property
    def answered_percent(self) -> float:
        total = self.counts.get("created", 0)
        return 100 * self.counts.get("answered", 0) / total if total else 0.0


def plans_overview() -> list[TransferPlan]:
    """Every plan version that is not superseded, newest first, with its parties."""
    return list(TransferPlan.objects.exclude(status=TransferPlan.Status.SUPERSEDED)
                .select_related("from_operator", "to_operator", "submitted_by", "approved_by")
                .order_by("-created_at")[:50])


def campaigns_progress(limit: int = 20) -> list[CampaignProgress]:
    """The funnel of the newest campaigns (a few aggregate queries each)."""
    progress = []
    for campaign in Campaign.objects.select_related("plan").order_by("-created_at")[:limit]:
        counts = campaign_funnel(campaign=campaign)
        # Someone who agreed to one item and declined another is in both funnel steps:
        # the answer rate counts requests answered, once each.
        counts["answered"] = ConsentRequest.objects.filter(
            campaign=campaign, answered_at__isnull=False).count()
        progress.append(CampaignProgress(campaign, counts))
    return progress


def open_reviews() -> dict[str, int]:
    """What waits for an officer's decision."""
    return {
        "plans_awaiting_approval": TransferPlan.objects.filter(
            status=TransferPlan.Status.SUBMITTED).count(),
        "disputes_unsettled": OwnershipDispute.objects.filter(
            status__in=OwnershipDispute.UNSETTLED).count(),
        "sms_replies_to_review": InboundSms.objects.filter(
            outcome=InboundSms.Outcome.NEEDS_REVIEW).count(),
        "sms_unknown_outcome": SmsMessage.objects.filter(
            status=SmsMessage.Status.UNKNOWN).count(),
        "deletions_unconfirmed": unconfirmed_deletions().count(),
        "deletion_searches_overdue": deletion_searches_overdue(),
    }


def notice_reach_overview() -> list[NoticeReach]:
    """Per plan in force that sends the Art. 27 notice: subjects reached per channel, still
    pending, and unreached after the campaign's last reminder (a few queries per plan)."""
    return [notice_reach(plan=plan) for plan in notice_reach_plans()]


@dataclass
class ReleaseRow:
    release: Release
    acknowledged: bool
    matches: bool | None  # None: not acknowledged yet


def releases_overview(limit: int = 20) -> list[ReleaseRow]:
    rows = []
    for release in (Release.objects.select_related("plan", "recipient")
                    .prefetch_related("acknowledgements").order_by("-created_at")[:limit]):
        acks = sorted(release.acknowledgements.all(), key=lambda a: a.received_at)
        rows.append(ReleaseRow(release, bool(acks), acks[-1].matches if acks else None))
    return rows


@dataclass
class ReconciliationState:
    plan: TransferPlan
    totals: int
    mismatched: int


def reconciliation_overview() -> list[ReconciliationState]:
    """Per plan that has received an upload: how many totals disagree."""
    plans = TransferPlan.objects.filter(uploads__isnull=False).distinct().order_by(
        "-created_at")[:20]
    states = []
    for plan in plans:
        rows = plan_reconciliation(plan)
        states.append(ReconciliationState(plan, len(rows), sum(1 for r in rows if not r.ok)))
    return states
