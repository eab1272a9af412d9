"""The Seoul move, rehearsed end to end through the real interfaces.

Officers act through the same services the admin calls; everybody else goes over HTTP: the
outgoing operator (KEPF) uploads with its OAuth2 client, the SMS go out through the real
Twilio SDK to the local stand-in, merchants and users open their links and answer on the real
pages, and the incoming operator (Shinhan) pulls, verifies, decrypts and acknowledges with the
reference client. The story, in order:

1. scenario    the demo data; a fresh dispute over representative name and phone, referred to
               the commission; an approved KEPF -> Shinhan plan (marked a rehearsal) using
               every legal basis
2. upload      KEPF uploads every record (a few planted errors, then corrected)
3. campaigns   merchants asked for consent by SMS
4. answers     merchants agree, agree to the required item only, decline, or never answer
5. notices     the Art. 27 notice: most users by an LMS that carries it (a share of handsets
               cannot be reached: the stand-in answers `undelivered`), the rest told in
               KEPF's app, which KEPF attests through the API with the reference client
6. users       some users open the notice and ask to move now ("지금 이전하기"), a few
               object; the unreached cannot do either
6b. refunds    half the objectors ask for their balance back; KEPF confirms half, signed
7. release 1   what may move now: merchants' non-disputed fields, the early movers (users
               whose notice period still runs stay back, the disputed fields wait)
8. ruling      the commission rules half way: the disputed fields follow the plan again
9. changes     some merchants withdraw after their data moved; Shinhan confirms deletion
10. release 2  the bulk release at cut-over, once every reached user's notice period has run:
               what became releasable since (never the unreached, never the objectors)
10b. corrections Shinhan reports, signed, a few hundred merchants it could not apply; KEPF
               corrects them through the normal upload; release 3 carries them again
11a. totals    KEPF, its subcontractor, the city and Shinhan declare their totals, signed;
               the subcontractor's per-user list disagrees with KEPF on a few hundred users
11b. every won the accepted balance split into moved, refunded, refund requested and held
               by reason, nothing unaccounted
11c. statement the settlement statement, co-signed by every party
11. reconcile  declared, accepted, released and acknowledged totals side by side
12. audit      the trail sealed, verified, exported and verified again by the bundle's own
               standalone verifier

The rehearsal plays weeks in minutes: its plan is marked a rehearsal (its releases are stamped
so and never reach a register) with a notice period of one day, and a rehearsal day lasts
``Options.day_seconds`` (``REHEARSAL_DAY_SECONDS``). Each user's period runs from that user's
own evidence, as in a real plan.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from operations.rehearsal import corrections, money
from operations.rehearsal.people import Visitor, link_in
from operations.rehearsal.runner import Progress

SYSTEM = ("system", "system:rehearsal")
BATCH_ROWS = 20_000


@dataclass
class Options:
    merchants: int = 200
    users: int = 300
    seed: int = 2024
    base_url: str | None = None   # None: serve in this process on a free port
    standin_url: str | None = None  # with base_url: the SMS stand-in its workers send to
    http_answers: int = 3_000     # at most this many merchants answer over HTTP
    sms_users: int | None = None  # users notified by LMS (None: all but app_share of them)
    app_share: float = 0.2        # users told in KEPF's app (attested), when sms_users is None
    undelivered_share: float = 0.05  # of the users' LMS: handsets the stand-in cannot reach
    early_share: float = 0.1      # of the users the LMS reached: ask to move now
    day_seconds: int = 20         # how long a day of the rehearsal plan's notice period lasts
    workers: int = 8              # simulated people answering at the same time
    out: Path | None = None
    quiet: bool = False


# Who does what, as shares of the merchants (drawn with the seed).
PROFILES = (("agree_all", 0.45), ("required_only", 0.15), ("decline", 0.10),
            ("opened_only", 0.05), ("never", 0.25))
WITHDRAW_SHARE = 0.10   # of the merchants who agreed to everything, after release 1
OBJECT_SHARE = 0.03     # of the users notified by LMS


@dataclass
class Cast:
    """Who each simulated person is and what they will do (no personal value kept here)."""

    merchant_profile: dict[int, str] = field(default_factory=dict)  # merchant index -> profile
    withdrawing: set[int] = field(default_factory=set)
    lms_users: range = range(0)                          # user indices notified by LMS
    app_users: range = range(0)                          # user indices told in KEPF's app
    early_users: set[int] = field(default_factory=set)   # ask to move now (if reached)
    objecting_users: set[int] = field(default_factory=set)  # object (if reached)


@dataclass
class Context:
    options: Options
    progress: Progress
    base_url: str = ""
    out: Path = Path()
    plan: object = None
    dispute: object = None
    officer: object = None
    second_officer: object = None
    kepf_client: tuple[str, str] = ("", "")
    shinhan_client: tuple[str, str] = ("", "")
    shinhan_keys: dict = field(default_factory=dict)
    standin: object = None
    cast: Cast = field(default_factory=Cast)
    links: dict[str, str] = field(default_factory=dict)  # external id -> newest link
    facts: dict = field(default_factory=dict)            # what happened, for the report
    releases: list[dict] = field(default_factory=list)


# --- 1. scenario --------------------------------------------------------------------------


def stage_scenario(ctx: Context) -> None:
    from governance.models import Operator
    from governance.seoul import DISPUTED_FIELDS, PLAN_VALUES, seoul_plan_rules
    from governance.services import dispute_open, plan_approve, plan_create, plan_submit
    from transfers.services.clients import operator_client_create

    with ctx.progress.stage("scenario", "1. 시나리오 (운영사·항목·분쟁·계획)", total=4) as st:
        call_command("demo", stdout=open("/dev/null", "w"))  # noqa: SIM115 - discarded output
        st.advance()
        users = get_user_model().objects
        ctx.officer, ctx.second_officer = users.get(username="officer"), users.get(
            username="officer2")
        operators = {o.code: o for o in Operator.objects.all()}
        from governance.models import Field

        fields = {f.key: f for f in Field.objects.all()}
        today = timezone.localdate()
        ctx.dispute = dispute_open(
            title=f"리허설 {today}: 가맹점 대표자명·전화번호 관리 주체 이의",
            fields=[fields[k] for k in DISPUTED_FIELDS], claimant=operators["SEOUL"],
            counter_claimant=operators["KEPF"], by=ctx.officer,
            claimant_ground="가맹점 핵심 정보는 사업 주관자인 서울시의 정보이며 운영사는 수탁자임",
            counter_ground="대표자명·전화번호는 운영사의 영업 정보이며 가맹점 동의 없이 제공 불가",
            opened_on=today, referred_on=today)
        st.advance()
        now = timezone.now()
        # The rehearsal plays weeks in minutes: its plan is a rehearsal with a notice period
        # of one (rehearsal) day, counted per user from that user's evidence like a real one.
        settings.REHEARSAL_DAY_SECONDS = ctx.options.day_seconds
        values = {**PLAN_VALUES, "notice_period_days": 1, "rehearsal": True,
                  "title": f"[리허설 {now:%Y-%m-%d %H:%M}] {PLAN_VALUES['title']}"}
        plan = plan_create(by=ctx.officer, from_operator=operators["KEPF"],
                           to_operator=operators["SHINHAN"], rules=seoul_plan_rules(fields),
                           subcontractor=money.subcontractor_ensure(),
                           notice_starts_at=now,
                           cutover_at=now + dt.timedelta(seconds=ctx.options.day_seconds,
                                                         hours=1), **values)
        plan_submit(plan=plan, by=ctx.officer)
        ctx.plan = plan_approve(plan=plan, by=ctx.second_officer)
        st.advance()
        kepf = operator_client_create(operator=operators["KEPF"], by=SYSTEM)
        shinhan = operator_client_create(operator=operators["SHINHAN"], by=SYSTEM)
        ctx.kepf_client = (kepf.client_id, kepf.client_secret)
        ctx.shinhan_client = (shinhan.client_id, shinhan.client_secret)
        from governance.demo import demo_keys_dir

        ctx.shinhan_keys = json.loads((demo_keys_dir() / "SHINHAN.json").read_text())
        st.advance()
        st.note(f"plan #{ctx.plan.pk}, dispute referred to the commission")


# --- 2. upload ----------------------------------------------------------------------------


def _planted_errors(rows: list[dict]) -> dict[str, dict]:
    """Break a few rows the way real exports break; return the corrected rows by id."""
    fixes = {}
    for row, damage in zip(rows[:3], ("brn", "phone", "qr"), strict=False):
        fixes[row["external_id"]] = dict(row)
        if damage == "brn" and "merchant.business_registration_number" in row:
            digits = row["merchant.business_registration_number"].replace("-", "")
            row["merchant.business_registration_number"] = digits[:9] + str(
                (int(digits[9]) + 1) % 10)
        elif damage == "phone" and "merchant.representative_phone" in row:
            row["merchant.representative_phone"] = "02-123"
        elif "merchant.qr_merchant_id" in row:
            row["merchant.qr_merchant_id"] = "QR-INVALID"
    return fixes


def stage_upload(ctx: Context) -> None:
    from transfers.client import Api
    from transfers.synthetic import rows

    o = ctx.options
    api = Api(ctx.base_url, *ctx.kepf_client, scope="upload")
    api.authenticate()
    balance = sum(r["user.certificate_balance"] for r in rows("user", 1, o.users))
    declared = {"subjects": {"merchant": o.merchants, "user": o.users},
                "certificate_balance_sum": balance}
    upload = api.json("POST", f"/api/plans/{ctx.plan.pk}/uploads",
                      {"declared_totals": declared}, expect=(201,))
    path = f"/api/uploads/{upload['id']}"
    rejected_first, fixes = 0, {}
    with ctx.progress.stage("upload", "2. KEPF 업로드 (OAuth2 API)",
                            total=o.merchants + o.users) as st:
        for kind, count in (("merchant", o.merchants), ("user", o.users)):
            for start in range(1, count + 1, BATCH_ROWS):
                batch = list(rows(kind, start, min(BATCH_ROWS, count - start + 1)))
                if kind == "merchant" and start == 1:
                    fixes = _planted_errors(batch)
                body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in batch)
                report = _put_batch(api, f"{path}/batches/{kind}-{start:08d}", body)
                rejected_first += report["rejected"]
                st.advance(len(batch))
        if fixes:  # the operator reads the report and sends the corrected rows again
            body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in fixes.values())
            report = _put_batch(api, f"{path}/batches/corrections-1", body)
        done = api.json("POST", f"{path}/complete", {})
        st.note(f"{done['accepted']:,} accepted, {rejected_first} rejected then corrected")
    ctx.facts["upload"] = {"declared": declared, "rejected_then_corrected": rejected_first,
                           "accepted": done["accepted"], "totals_match": done.get(
                               "totals", {}).get("matches")}


def _put_batch(api, path: str, body: str) -> dict:
    return api.send("PUT", path, body.encode(), "application/x-ndjson; charset=utf-8")


# --- 3. campaigns -------------------------------------------------------------------------


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


def stage_campaigns(ctx: Context) -> None:
    from consent.models import SmsMessage

    o = ctx.options
    with ctx.progress.stage("campaigns", "3. 가맹점 동의 요청 발송 (SMS)",
                            total=o.merchants) as st:
        if o.merchants:
            campaign = _campaign(ctx, "merchant", "가맹점 개인정보 제공 동의 요청",
                                 [f"M-{i:07d}" for i in range(1, o.merchants + 1)])
            ctx.facts.setdefault("campaigns", {})["merchant"] = campaign.pk
            _send_until_done([campaign], st)
            sent = SmsMessage.objects.filter(request__campaign=campaign,
                                             status__in=_SENT_STATES).count()
            st.note(f"{sent:,} SMS accepted by the provider")


def _campaign(ctx: Context, kind: str, name: str, external_ids: list[str], items=None):
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


_SENT_STATES = ("submitted", "sent", "delivered")


def _send_until_done(campaigns, st, timeout: float = 3600) -> None:
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


# --- 4. answers ---------------------------------------------------------------------------


def _collect_links(ctx: Context) -> None:
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


def _cast(ctx: Context) -> Cast:
    rng = random.Random(ctx.options.seed)
    cast = Cast()
    names, weights = zip(*PROFILES, strict=True)
    for i in range(1, ctx.options.merchants + 1):
        cast.merchant_profile[i] = rng.choices(names, weights)[0]
    agreeing = sorted(i for i, p in cast.merchant_profile.items() if p == "agree_all")
    cast.withdrawing = set(rng.sample(agreeing, max(1, int(len(agreeing) * WITHDRAW_SHARE)))
                           if agreeing else [])
    o = ctx.options
    by_lms = (o.users - round(o.users * o.app_share) if o.sms_users is None
              else min(o.users, o.sms_users))
    cast.lms_users, cast.app_users = range(1, by_lms + 1), range(by_lms + 1, o.users + 1)
    # Early movers and objectors among the users the LMS is sent to (those it cannot reach
    # never see a link, and so cannot act): disjoint sets.
    lms = list(cast.lms_users)
    cast.objecting_users = set(rng.sample(lms, min(len(lms), max(
        1, int(len(lms) * OBJECT_SHARE))))) if lms else set()
    others = [i for i in lms if i not in cast.objecting_users]
    cast.early_users = set(rng.sample(others, min(len(others), max(
        1, int(len(lms) * o.early_share))))) if others else set()
    return cast


def _merchant_acts(ctx: Context, i: int, profile: str) -> str:
    from governance.seoul import synthetic_brn

    visitor = Visitor(ctx.links[f"M-{i:07d}"], ctx.base_url, person=i)
    if profile == "opened_only":
        visitor.open()
        return profile
    visitor.verify(synthetic_brn(i))
    optional = visitor.optional_items()
    if profile == "agree_all":
        visitor.answer(required="agree", optional={k: "agree" for k in optional})
    elif profile == "required_only":
        visitor.answer(required="agree", optional={k: "decline" for k in optional})
    else:
        visitor.answer(required="decline", optional={k: "decline" for k in optional})
    receipt = visitor.receipt_json()
    if not receipt:
        raise RuntimeError("empty receipt")
    return profile


def stage_answers(ctx: Context) -> None:
    _collect_links(ctx)
    ctx.cast = cast = _cast(ctx)
    acting = [(i, p) for i, p in cast.merchant_profile.items() if p != "never"]
    acting = acting[:ctx.options.http_answers]
    outcomes: Counter = Counter()
    with ctx.progress.stage("answers", "4. 가맹점 응답 (모바일 페이지, HTTP)",
                            total=len(acting)) as st:
        with ThreadPoolExecutor(max_workers=ctx.options.workers) as pool:
            for job in [pool.submit(_merchant_acts, ctx, i, p) for i, p in acting]:
                outcomes[job.result()] += 1
                st.advance()
        st.note(", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    answered = {i for i, _ in acting}
    ctx.cast.merchant_profile = {i: (p if p == "never" or i in answered else "never")
                                 for i, p in cast.merchant_profile.items()}
    ctx.cast.withdrawing &= answered
    ctx.facts["answers"] = dict(outcomes)


# --- 5/6. the users' Art. 27 notice, early moves and objections --------------------------


def stage_notices(ctx: Context) -> None:
    """The notice itself by LMS (its delivery report is the evidence), a share of handsets
    out of reach; the users told in KEPF's app attested by KEPF, signed, through the API."""
    from consent.models import SmsMessage
    from governance.models import FieldRule

    cast, o = ctx.cast, ctx.options
    with ctx.progress.stage("notices", "5. 이용자 이전 고지 (LMS·운영사 앱 공지 확인서)",
                            total=len(cast.lms_users) + len(cast.app_users)) as st:
        if cast.lms_users:
            notice_items = list(ctx.plan.rules.filter(
                basis=FieldRule.Basis.NOTICE_OPT_OUT, field__subject_kind="user")
                .order_by("field__position").values_list("field__key", flat=True))
            _standin_undelivered(ctx, o.undelivered_share)
            try:
                campaign = _campaign(ctx, "user", "이용자 영업양도 이전 고지",
                                     [f"U-{i:07d}" for i in cast.lms_users], items=notice_items)
                ctx.facts.setdefault("campaigns", {})["user"] = campaign.pk
                _send_until_done([campaign], st)
                _wait_for_delivery_reports(campaign)
            finally:
                _standin_undelivered(ctx, 0.0)
            statuses = Counter(SmsMessage.objects.filter(request__campaign=campaign)
                               .values_list("status", flat=True))
            st.note(f"LMS: {statuses.get('delivered', 0):,} delivered, "
                    f"{statuses.get('undelivered', 0) + statuses.get('failed', 0):,} not")
        if cast.app_users:
            attested = _kepf_attests(ctx, [f"U-{i:07d}" for i in cast.app_users])
            st.advance(len(cast.app_users))
            st.note(f"KEPF attested {attested:,} users told in its app")
    _collect_links(ctx)


def _standin_undelivered(ctx: Context, share: float) -> None:
    """Only the users' LMS meet dead handsets (the merchants' story is about consent). An
    external stand-in keeps the share it was started with (--undelivered-share)."""
    state = getattr(ctx.standin, "state", None)
    if state is not None:
        state.undelivered_share = share


def _wait_for_delivery_reports(campaign, timeout: float = 600) -> None:
    """The stand-in posts `delivered` or `undelivered` shortly after `sent`: the notice
    evidence is those reports, so wait until no message is left in between."""
    from consent.models import SmsMessage

    deadline = time.monotonic() + timeout
    while SmsMessage.objects.filter(request__campaign=campaign,
                                    status__in=("submitted", "sent")).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the provider's delivery reports did not arrive in time")
        time.sleep(0.3)


def _kepf_attests(ctx: Context, external_ids: list[str]) -> int:
    """KEPF told these users in its app a moment ago; it signs and posts that, per user."""
    from governance.demo import demo_keys_dir
    from transfers.client import Api, attest

    api = Api(ctx.base_url, *ctx.kepf_client, scope="upload")
    api.authenticate()
    keys = json.loads((demo_keys_dir() / "KEPF.json").read_text())
    told_at = (timezone.now() - dt.timedelta(seconds=1)).isoformat()
    lines = ({"external_id": e, "channel": "in_app", "notified_at": told_at}
             for e in external_ids)
    return attest(api, keys, lines, plan_id=ctx.plan.pk, log=lambda *_: None)["subjects"]


def _user_acts(ctx: Context, i: int, action: str) -> str:
    """A user opens the notice (readable without the identity check), verifies with the last
    four digits of their phone, and asks to move now or objects."""
    from governance.seoul import synthetic_phone

    link = ctx.links.get(f"U-{i:07d}")
    if link is None:
        return "unreached"  # the LMS never reached the handset: no link to open
    visitor = Visitor(link, ctx.base_url, person=ctx.options.merchants + i)
    visitor.verify(synthetic_phone(i)[-4:])
    visitor.press("/early" if action == "early" else "/object")
    return "moved_early" if action == "early" else "objected"


def stage_users(ctx: Context) -> None:
    cast = ctx.cast
    acting = [(i, "early") for i in sorted(cast.early_users)]
    acting += [(i, "object") for i in sorted(cast.objecting_users)]
    outcomes: Counter = Counter()
    with ctx.progress.stage("users", "6. 이용자: 지금 이전하기·이전 거부 (모바일 페이지)",
                            total=len(acting)) as st:
        with ThreadPoolExecutor(max_workers=ctx.options.workers) as pool:
            for job in [pool.submit(_user_acts, ctx, i, a) for i, a in acting]:
                outcomes[job.result()] += 1
                st.advance()
        st.note(", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    ctx.facts["user_actions"] = dict(outcomes)


# --- 7/10. releases -----------------------------------------------------------------------


def _pull(ctx: Context, key: str, label: str) -> dict:
    from transfers.client import Api, pull

    with ctx.progress.stage(key, label, total=1) as st:
        api = Api(ctx.base_url, *ctx.shinhan_client)
        api.authenticate()
        summary = pull(api, ctx.shinhan_keys, ctx.out / "shinhan", plan_id=ctx.plan.pk,
                       new=True, wait_seconds=3600, log=lambda *_: None)
        st.advance()
        st.note(f"{summary['records']:,} records, acknowledged: {summary['acknowledged']}")
    ctx.releases.append(summary)
    return summary


def stage_release_early(ctx: Context) -> None:
    _pull(ctx, "release1", "7. 1차 제공 (먼저 이전할 수 있는 정보·지금 이전 요청자)")


def stage_release_bulk(ctx: Context) -> None:
    _wait_for_notice_periods(ctx)
    _pull(ctx, "release2", "10. 전환 시점 일괄 제공 (cut-over)")


def _wait_for_notice_periods(ctx: Context) -> None:
    """The cut-over comes once the newest evidence's notice period has run (a rehearsal day
    is seconds long): waited for in real time, never pretended."""
    from django.db.models import Max

    from governance.models import SubjectNotice

    newest = SubjectNotice.objects.filter(lineage=ctx.plan.lineage).aggregate(
        t=Max("notified_at"))["t"]
    if newest is not None:
        pause = (newest + ctx.plan.notice_period - timezone.now()).total_seconds()
        time.sleep(max(0.0, pause) + 0.5)


# --- 8. ruling ----------------------------------------------------------------------------


def stage_ruling(ctx: Context) -> None:
    from governance.models import Operator
    from governance.services import ruling_record

    with ctx.progress.stage("ruling", "8. 개인정보보호위원회 결정", total=1) as st:
        ruling_record(
            dispute=ctx.dispute, authority="개인정보보호위원회 (PIPC)",
            decided_on=timezone.localdate(), controller=Operator.objects.get(code="SEOUL"),
            processor=Operator.objects.get(code="KEPF"), by=ctx.officer,
            reference="리허설 결정", outcome="운영사는 서울시의 수탁자: 위탁 종료 시 반환 가능",
            effect="대표자명·전화번호는 계획의 이전 근거(위탁 반환, 제26조)를 따름")
        st.advance()


# --- 9. changes of mind after release 1 ---------------------------------------------------


def _merchant_withdraws(ctx: Context, i: int) -> None:
    from governance.seoul import synthetic_brn

    visitor = Visitor(ctx.links[f"M-{i:07d}"], ctx.base_url, person=i)
    visitor.verify(synthetic_brn(i))
    visitor.press("/withdraw")


def stage_changes(ctx: Context) -> None:
    from transfers.client import Api, deletions

    withdrawing = sorted(ctx.cast.withdrawing)
    with ctx.progress.stage("changes", "9. 이전 후 동의 철회·삭제 확인",
                            total=len(withdrawing) + 1) as st:
        with ThreadPoolExecutor(max_workers=ctx.options.workers) as pool:
            for job in [pool.submit(_merchant_withdraws, ctx, i) for i in withdrawing]:
                job.result()
                st.advance()
        # What Celery beat does every minute (transfers.tasks.detect_deletions): the feed's
        # GET only reads, so the search runs here before Shinhan polls.
        call_command("detect_deletions", stdout=open("/dev/null", "w"))  # noqa: SIM115
        api = Api(ctx.base_url, *ctx.shinhan_client)
        api.authenticate()
        confirmed = deletions(api, ctx.out / "shinhan", plan_id=ctx.plan.pk, confirm=True,
                              log=lambda *_: None)
        st.advance()
        st.note(f"{len(withdrawing)} withdrew, {len(confirmed)} deletions confirmed")
    ctx.facts["deletions_confirmed"] = len(confirmed)


# --- 11/12. reconciliation and audit -------------------------------------------------------


def stage_reconcile(ctx: Context) -> None:
    from transfers.selectors import plan_reconciliation

    with ctx.progress.stage("reconcile", "11. 합계 대사", total=1) as st:
        rows = plan_reconciliation(ctx.plan)
        st.advance()
        problems = [r for r in rows if not r.ok]
        st.note(f"{len(rows)} totals, {len(problems)} mismatched")
    ctx.facts["reconciliation"] = rows


def stage_audit(ctx: Context) -> None:
    from audit.export import audit_bundle_export
    from audit.models import Checkpoint
    from audit.sealing import audit_log_seal
    from audit.verification import AuditLogCorrupt, audit_log_verify

    bundle = ctx.out / "audit-bundle"
    with ctx.progress.stage("audit", "12. 감사 기록 봉인·검증·내보내기", total=3) as st:
        audit_log_seal(force_checkpoint=True)
        try:
            report, problem = audit_log_verify(), ""
        except AuditLogCorrupt as exc:
            report, problem = None, str(exc)
        st.advance()
        audit_bundle_export(out_dir=bundle)
        st.advance()
        # The commission's own check: the bundle's standalone verifier, in a fresh process.
        checked = subprocess.run(  # noqa: S603 - our interpreter, our freshly written bundle
            [sys.executable, str(bundle / "verify.py"), str(bundle)],
            capture_output=True, text=True, timeout=3600)
        st.advance()
        st.note(f"{report.entries if report else 0:,} entries verified; bundle: "
                f"{'ok' if checked.returncode == 0 else 'FAILED'}")
    ctx.facts["audit"] = {"entries": report.entries if report else 0,
                          "checkpoints": Checkpoint.objects.count(),
                          "verified": report is not None, "problem": problem,
                          "bundle_verified": checked.returncode == 0,
                          "bundle_output": (checked.stdout + checked.stderr)[-2000:]}


STAGES = (stage_scenario, stage_upload, stage_campaigns, stage_answers, stage_notices,
          stage_users, money.stage_refunds, stage_release_early, stage_ruling, stage_changes,
          stage_release_bulk, corrections.stage_corrections, money.stage_party_totals,
          money.stage_disposition, money.stage_statement, stage_reconcile, stage_audit)
