"""Reads for the officers' dashboard: where every move stands, on one page.

Each section is a handful of aggregate queries, whatever the number of subjects: the page must
stay quick while a 270,000-merchant campaign is running.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q

from consent.models import Campaign, ConsentRecord, ConsentRequest, InboundSms, SmsMessage
from governance.models import OwnershipDispute, TransferPlan

R = ConsentRequest.Status


@dataclass
class CampaignProgress:
    campaign: Campaign
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def answered_percent(self) -> float:
        total = self.counts.get("requests", 0)
        return 100 * self.counts.get("answered", 0) / total if total else 0.0


def plans_overview() -> list[TransferPlan]:
    """Every plan version that is not superseded, newest first, with its parties."""
    return list(TransferPlan.objects.exclude(status=TransferPlan.Status.SUPERSEDED)
                .select_related("from_operator", "to_operator", "submitted_by", "approved_by")
                .order_by("-created_at")[:50])


def campaigns_progress(limit: int = 20) -> list[CampaignProgress]:
    """The funnel of the newest campaigns: one aggregate query each over their requests."""
    progress = []
    for campaign in (Campaign.objects.select_related("plan").order_by("-created_at")[:limit]):
        counts = ConsentRequest.objects.filter(campaign=campaign).aggregate(
            requests=Count("id"),
            sent=Count("id", filter=Q(first_sent_at__isnull=False)),
            delivered=Count("id", filter=Q(delivered_at__isnull=False)),
            failed=Count("id", filter=Q(status=R.FAILED)),
            opened=Count("id", filter=Q(opened_at__isnull=False)),
            verified=Count("id", filter=Q(verified_at__isnull=False)),
            answered=Count("id", filter=Q(answered_at__isnull=False)),
            expired=Count("id", filter=Q(status=R.EXPIRED)),
            opted_out=Count("id", filter=Q(status=R.OPTED_OUT)),
        )
        counts.update(ConsentRecord.objects.filter(request__campaign=campaign).aggregate(
            withdrawn=Count("id", filter=Q(action=ConsentRecord.Action.WITHDRAW)),
            objected=Count("id", filter=Q(action=ConsentRecord.Action.OBJECT)),
        ))
        counts["sms_unknown"] = SmsMessage.objects.filter(
            request__campaign=campaign, status=SmsMessage.Status.UNKNOWN).count()
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
    }
