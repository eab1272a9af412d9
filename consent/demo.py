"""The demo campaigns: a few of the demo plan's merchants asked for consent by SMS, and every
demo user sent the Art. 27 notice by LMS. With the console provider (the embedded default)
the messages appear in ``var/sms-outbox.jsonl``, one JSON object per line (``to``, ``body``,
``url``): open a ``url`` to go through the consent page. The console provider counts as
delivered at once, so each user's notice LMS is notice evidence (channel ``lms``) and the
notice period of that user starts now; a release carries their Art. 27 items only once it
has run (or after they ask to move early).

Idempotent: the campaigns are created and launched once; later runs only report on them.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.utils import timezone

from consent.models import Campaign
from consent.services.campaigns import campaign_create, campaign_funnel, campaign_launch
from consent.services.sending import campaign_send_run
from governance.demo import USERS
from governance.models import FieldRule, SubjectNotice, TransferPlan
from governance.seoul import PLAN_VALUES, synthetic_brn, synthetic_phone

DEMO_CAMPAIGN = "데모: 가맹점 개인정보 제공 동의 요청 (M-00000x)"
DEMO_PREFIX = "M-00000"  # M-000001 .. M-000009
DEMO_MERCHANTS = range(1, 10)
NOTICE_CAMPAIGN = "데모: 이용자 개인정보 이전 고지 (제27조, 장문 문자)"


def load(stdout=None) -> str:
    plan = (TransferPlan.objects.filter(title=PLAN_VALUES["title"],
                                        status__in=TransferPlan.IN_FORCE)
            .order_by("-version").first())
    if plan is None:
        return "no approved demo plan: no demo campaign"
    officer = get_user_model().objects.filter(username="officer").first()
    lines = [_consent_campaign(plan, officer), _notice_campaign(plan, officer),
             *identity_hints()]
    return "\n".join(lines)


def _demo_values() -> dict:
    return dict(expires_at=timezone.now() + dt.timedelta(days=14),
                # The demo runs at any hour: no quiet hours (real campaigns keep 21:00-08:00).
                quiet_from_hour=0, quiet_until_hour=0, send_rate_per_second=20,
                reminder_count=1, reminder_after_hours=48)


def _consent_campaign(plan: TransferPlan, officer) -> str:
    campaign = Campaign.objects.filter(name=DEMO_CAMPAIGN, plan=plan).first()
    if campaign is None:
        campaign = campaign_create(
            plan=plan, name=DEMO_CAMPAIGN, subject_kind="merchant", by=officer,
            audience=Campaign.Audience.FILTER, audience_filter={"external_id_prefix": DEMO_PREFIX},
            **_demo_values())
        if settings.SMS_PROVIDER != "console":
            return (f"campaign '{campaign}' created as a draft (SMS_PROVIDER="
                    f"{settings.SMS_PROVIDER}: launch it from the admin)")
        # Sends once this transaction commits (in-process without a broker).
        campaign_launch(campaign=campaign, by=officer)
        campaign.refresh_from_db()
    funnel = campaign_funnel(campaign=campaign)
    return (f"campaign '{campaign}' {campaign.status}: {funnel['created']} requests; "
            f"links in {settings.SMS_OUTBOX_FILE}")


def _notice_campaign(plan: TransferPlan, officer) -> str:
    """Every demo user gets the Art. 27 notice itself by LMS, sent right here so that the
    notice evidence exists before the transfers demo builds its release."""
    campaign = Campaign.objects.filter(name=NOTICE_CAMPAIGN, plan=plan).first()
    if campaign is None:
        notice_items = list(plan.rules.filter(basis=FieldRule.Basis.NOTICE_OPT_OUT,
                                              field__subject_kind="user")
                            .order_by("field__position").values_list("field__key", flat=True))
        campaign = campaign_create(plan=plan, name=NOTICE_CAMPAIGN, subject_kind="user",
                                   by=officer, items=notice_items, **_demo_values())
        if settings.SMS_PROVIDER != "console":
            return (f"campaign '{campaign}' created as a draft (SMS_PROVIDER="
                    f"{settings.SMS_PROVIDER}: launch it from the admin; users count as "
                    "notified when the provider reports their LMS delivered)")
        campaign_launch(campaign=campaign, by=officer)
        campaign_send_run(campaign_id=campaign.pk, budget_seconds=None)
        campaign.refresh_from_db()
    by_channel = dict(SubjectNotice.objects.filter(lineage=plan.lineage, subject__kind="user")
                      .values_list("channel").annotate(n=Count("id")))
    notified = sum(by_channel.values())
    channels = ", ".join(f"{channel} {n}" for channel, n in sorted(by_channel.items()))
    return (f"campaign '{campaign}' {campaign.status}: {notified} of {USERS} users notified "
            f"with evidence ({channels or 'none yet'}); their Art. 27 items move once the "
            f"{plan.notice_period_days}-day notice period has run from that evidence, or "
            "earlier if they ask to move now")


def identity_hints() -> list[str]:
    """How a newcomer passes the identity check on a demo link (consent.services.identity):
    a merchant types its business registration number, a user the last four digits of the
    mobile number the link was sent to (the outbox line's ``to``)."""
    merchants = ", ".join(f"M-{i:06d} {synthetic_brn(i)}" for i in DEMO_MERCHANTS)
    first, last = synthetic_phone(5000 + 1)[-4:], synthetic_phone(5000 + USERS)[-4:]
    return [
        "identity check on a demo link — merchants type their business registration number: "
        f"{merchants} (M-00000i: governance.seoul.synthetic_brn(i))",
        "identity check on a demo link — users type the last 4 digits of their mobile number: "
        f"U-000001 {first} … U-{USERS:06d} {last} (U-i: the last 4 digits of "
        "governance.seoul.synthetic_phone(5000 + i), also the end of the outbox line's 'to')",
    ]
