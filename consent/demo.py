"""The demo campaign: a few of the demo plan's merchants asked by SMS. With the console
provider (the embedded default) their links appear in ``var/sms-outbox.jsonl``, one JSON
object per line (``to``, ``body``, ``url``): open a ``url`` to go through the consent page.

Idempotent: the campaign is created and launched once; later runs only report on it.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from consent.models import Campaign
from consent.services.campaigns import campaign_create, campaign_funnel, campaign_launch
from governance.models import TransferPlan
from governance.seoul import PLAN_VALUES

DEMO_CAMPAIGN = "데모: 가맹점 개인정보 제공 동의 요청 (M-00000x)"
DEMO_PREFIX = "M-00000"  # M-000001 .. M-000009


def load(stdout=None) -> str:
    plan = (TransferPlan.objects.filter(title=PLAN_VALUES["title"],
                                        status__in=TransferPlan.IN_FORCE)
            .order_by("-version").first())
    if plan is None:
        return "no approved demo plan: no demo campaign"
    campaign = Campaign.objects.filter(name=DEMO_CAMPAIGN, plan=plan).first()
    if campaign is None:
        officer = get_user_model().objects.filter(username="officer").first()
        campaign = campaign_create(
            plan=plan, name=DEMO_CAMPAIGN, subject_kind="merchant", by=officer,
            audience=Campaign.Audience.FILTER, audience_filter={"external_id_prefix": DEMO_PREFIX},
            expires_at=timezone.now() + dt.timedelta(days=14),
            # The demo runs at any hour: no quiet hours (real campaigns keep 21:00-08:00).
            quiet_from_hour=0, quiet_until_hour=0, send_rate_per_second=20,
            reminder_count=1, reminder_after_hours=48)
        if settings.SMS_PROVIDER != "console":
            return (f"campaign '{campaign}' created as a draft (SMS_PROVIDER="
                    f"{settings.SMS_PROVIDER}: launch it from the admin)")
        # Sends once this transaction commits (in-process without a broker).
        campaign_launch(campaign=campaign, by=officer)
        campaign.refresh_from_db()
    funnel = campaign_funnel(campaign=campaign)
    return (f"campaign '{campaign}' {campaign.status}: {funnel['created']} requests; "
            f"links in {settings.SMS_OUTBOX_FILE}")
