"""The SMS side of the rehearsal: the Twilio stand-in the real SDK sends to (in this process
or started separately), launching a rehearsal campaign and driving it until every message is
out, the delivery reports, and which link reached whom."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from contextlib import ExitStack

from django.conf import settings
from django.utils import timezone

from operations.rehearsal.context import Context
from operations.rehearsal.people import link_in


class RemoteStandin:
    """A stand-in started separately (``python -m consent.sms.standin``), for a rehearsal
    against gunicorn and workers whose settings already point TWILIO_API_BASE at it."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    @property
    def messages(self) -> list[dict]:
        import requests

        return requests.get(f"{self.url}/_standin/messages", timeout=60).json()["messages"]


def sms_through_standin(ctx: Context, stack: ExitStack) -> None:
    """Send through the real Twilio SDK to the local stand-in; links point at our server.

    Against an external server (``--base-url``) the workers send with their own settings, so
    they must already use the stand-in given as ``--standin-url``.
    """
    from consent.sms.standin import StandinServer

    if ctx.options.base_url:
        if not ctx.options.standin_url:
            raise ValueError("--base-url needs --standin-url (the stand-in its workers use)")
        ctx.standin = RemoteStandin(ctx.options.standin_url)
        return
    sid, token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
    ctx.standin = stack.enter_context(StandinServer(account_sid=sid, auth_token=token,
                                                    rate=None, callbacks=True))
    settings.SMS_PROVIDER = "twilio"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = sid, token
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + secrets.token_hex(16)
    settings.TWILIO_API_BASE = ctx.standin.url
    settings.PUBLIC_BASE_URL = ctx.base_url
    # The in-process server stands where the TLS proxy would: each simulated person's
    # X-Forwarded-For is their address (see people.Visitor).
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


def campaign_for(ctx: Context, kind: str, name: str, external_ids: list[str], items=None):
    """A rehearsal campaign to ``external_ids``, created and launched by the officer."""
    from consent.models import Campaign
    from consent.services.campaigns import campaign_create, campaign_launch

    # Rehearsal SMS only reach the stand-in: no quiet hours, no reminders (a message the
    # stand-in cannot deliver leaves its subject unreached at once).
    campaign = campaign_create(
        plan=ctx.plan, name=f"[리허설] {name}", subject_kind=kind,
        expires_at=timezone.now() + dt.timedelta(days=14), by=ctx.officer,
        audience=Campaign.Audience.LIST, audience_filter={"external_ids": external_ids},
        items=items, quiet_from_hour=0, quiet_until_hour=0, send_rate_per_second=5_000,
        reminder_count=0)
    campaign_launch(campaign=campaign, by=ctx.officer)
    return campaign


SENT_STATES = ("submitted", "sent", "delivered")


def send_until_done(campaigns, st, timeout: float = 3600) -> None:
    """Drive sending until every invitation is out: in-process without a broker, otherwise
    wait for the workers (the `sms` queue) to finish."""
    from consent.models import SmsMessage
    from consent.services.sending import campaign_send_run

    pending_states = ("queued", "sending")
    deadline = time.monotonic() + timeout
    done_before = 0
    while time.monotonic() < deadline:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            for campaign in campaigns:
                campaign_send_run(campaign_id=campaign.pk, budget_seconds=None)
        pending = SmsMessage.objects.filter(request__campaign__in=campaigns,
                                            status__in=pending_states).count()
        done = SmsMessage.objects.filter(request__campaign__in=campaigns).exclude(
            status__in=pending_states).count()
        st.advance(done - done_before)
        done_before = done
        if not pending:
            return
        time.sleep(0.5)
    raise RuntimeError("the campaign did not finish sending in time")


def links_collect(ctx: Context) -> None:
    """Which link reached whom. On a real phone the merchant simply has their SMS; here the
    stand-in holds every SMS, and we find each one's request by the hash of its token."""
    from consent.models import ConsentLink
    from consent.tokens import token_hash

    by_hash = {}
    for message in ctx.standin.messages:
        link = link_in(message.get("body", ""))
        if link:
            by_hash[token_hash(link.rsplit("/", 1)[1])] = link
    owners = ConsentLink.objects.filter(token_hash__in=list(by_hash)).values_list(
        "token_hash", "request__subject__external_id")
    ctx.links = {external_id: by_hash[h] for h, external_id in owners}


def standin_undelivered_share(ctx: Context, share: float) -> None:
    """Only the users' LMS meet dead handsets (the merchants' story is about consent). An
    external stand-in keeps the share it was started with (--undelivered-share)."""
    state = getattr(ctx.standin, "state", None)
    if state is not None:
        state.undelivered_share = share


def delivery_reports_wait(campaign, timeout: float = 600) -> None:
    """The stand-in posts `delivered` or `undelivered` shortly after `sent`: the notice
    evidence is those reports, so wait until no message is left in between."""
    from consent.models import SmsMessage

    deadline = time.monotonic() + timeout
    while SmsMessage.objects.filter(request__campaign=campaign,
                                    status__in=("submitted", "sent")).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the provider's delivery reports did not arrive in time")
        time.sleep(0.3)

