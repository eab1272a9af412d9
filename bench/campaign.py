"""A 270,000-merchant consent campaign through the Twilio stand-in, with real Celery workers on
Redis and PostgreSQL.

Figures, both measured in the same run:

1. Time to create the campaign's requests and queued invitations (`campaign_launch`: two
   INSERT ... SELECT statements plus the audit event). Goal: <= 60 s. Links are issued per
   send batch, just before the provider call (the token exists only in memory), so their
   cost is inside figure 2.
2. Send rate: messages the stand-in accepted per second between its first and last
   acceptance of the campaign, sent by the real workers through the real `twilio` SDK
   (claim, link, send, record, per batch). Ceiling: the stand-in's own raw rate, measured
   just before by a plain HTTP client (16 threads, pooled keep-alive sessions, the same
   form the SDK posts) for --ceiling-seconds. The stand-in enforces a Messaging-Service-like
   throughput limit (--rate, answering 429 above it), as Twilio does. Goal: ratio >= 0.8.

Afterwards it checks, at the stand-in, that every subject got exactly one message (distinct
recipients == messages == requests) and that our database agrees.

    .venv/bin/python bench/campaign.py [--merchants 270000] [--rate 400] [--workers 2] [--keep]

Creates (and drops, unless --keep) the database `bench_campaign`; Redis db 8; the stand-in on
port 8201.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import io
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from pgdb import PG, drop_database, recreate_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB = "bench_campaign"
REDIS = "redis://127.0.0.1:6379/8"
PORT = 8201
ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-standin-token"
SERVICE_SID = "MG" + "b" * 32
CREATE_GOAL_S = 60.0
RATIO_GOAL = 0.8




def _env(var_dir: str, rate: int) -> dict:
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": f"{PG}/{DB}",
        "CELERY_BROKER_URL": REDIS, "VAR_DIR": var_dir, "SMS_PROVIDER": "twilio",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_MESSAGING_SERVICE_SID": SERVICE_SID,
        "TWILIO_API_BASE": f"http://127.0.0.1:{PORT}", "SMS_SEND_RATE_PER_SECOND": str(rate),
        "PUBLIC_BASE_URL": "https://consent.example.kr", "LOG_LEVEL": "WARNING",
    })
    return env


def _populate(merchants: int):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from governance.crypto import blind_index, encrypt_text
    from governance.seoul import (
        PLAN_VALUES,
        seoul_catalogue_ensure,
        seoul_operators_ensure,
        seoul_plan_rules,
    )
    from governance.services import plan_approve, plan_create, plan_submit

    call_command("migrate", verbosity=0)
    operators = seoul_operators_ensure()
    fields = seoul_catalogue_ensure()
    users = get_user_model().objects
    kim = users.create_superuser("bench-kim", password=None)
    lee = users.create_superuser("bench-lee", password=None)
    now = timezone.now()
    plan = plan_create(by=kim, from_operator=operators["KEPF"], to_operator=operators["SHINHAN"],
                       rules=seoul_plan_rules(fields), notice_starts_at=now,
                       **PLAN_VALUES)
    plan_submit(plan=plan, by=kim)
    plan = plan_approve(plan=plan, by=lee)
    stamp = now.isoformat()
    buf = io.StringIO()
    for i in range(merchants):
        phone = f"+8210{i:08d}"  # every merchant its own number: the stand-in counts by it
        buf.write(f"merchant\t{operators['KEPF'].pk}\tM-{i:07d}\t{secrets.token_hex(12)}\t"
                  f"{encrypt_text(phone)}\t{blind_index('phone:' + phone)}\t"
                  f"{secrets.token_hex(32)}\t{stamp}\t{stamp}\n")
    with connection.cursor() as cursor, cursor.cursor.copy(
            "COPY governance_datasubject (kind, source_operator_id, external_id, public_id, "
            "phone, phone_index, brn_hash, created_at, updated_at) FROM STDIN") as copy:
        copy.write(buf.getvalue())
    return plan, kim


def _standin(path: str, **kwargs):
    return requests.request(kwargs.pop("method", "GET"), f"http://127.0.0.1:{PORT}{path}",
                            timeout=10, **kwargs).json()


def _measure_ceiling(seconds: float, threads: int = 16) -> float:
    """The stand-in's raw rate: a plain client posting as fast as it answers."""
    url = f"http://127.0.0.1:{PORT}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    auth = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    deadline = time.monotonic() + seconds
    body = "[서울사랑상품권] 운영사 변경에 따른 개인정보 제공 동의를 요청드립니다.\n" \
           "https://consent.example.kr/c/AAAAAAAAAAAAAAAAAAAAAA"

    def post(n: int) -> None:
        session = requests.Session()
        i = 0
        while time.monotonic() < deadline:
            session.post(url, data={"To": f"+8219{n:02d}{i:06d}", "Body": body,
                                    "MessagingServiceSid": SERVICE_SID,
                                    "StatusCallback": "https://consent.example.kr/sms/x?m=1"},
                         headers={"Authorization": auth}, timeout=10)
            i += 1

    workers = [threading.Thread(target=post, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stats = _standin("/_standin/stats")
    _standin("/_standin/reset", method="POST")
    return stats["raw_rate"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--merchants", type=int, default=270_000)
    parser.add_argument("--rate", type=int, default=400,
                        help="the stand-in's throughput limit, messages/s (like a Messaging "
                             "Service's); the campaign's cap is set to the same")
    parser.add_argument("--workers", type=int, default=2, help="celery worker processes")
    parser.add_argument("--ceiling-seconds", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    var_dir = tempfile.mkdtemp(prefix="bench-campaign-")
    env = _env(var_dir, args.rate)
    os.environ.update(env)
    recreate_database(DB)
    import django

    django.setup()
    from django.db.models import Count
    from django.utils import timezone

    from consent.models import ConsentRequest, SmsMessage
    from consent.services.campaigns import campaign_create, campaign_launch

    procs: list[subprocess.Popen] = []
    try:
        t0 = time.monotonic()
        plan, officer = _populate(args.merchants)
        print(f"loaded {args.merchants:,} merchants in {time.monotonic() - t0:.1f} s")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "consent.sms.standin", "--port", str(PORT),
             "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN, "--rate",
             str(args.rate)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL))
        for _ in range(50):
            try:
                _standin("/_standin/stats")
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        ceiling = _measure_ceiling(args.ceiling_seconds)
        print(f"stand-in raw rate (ceiling): {ceiling:,.0f} msg/s (limit {args.rate}/s)")

        import redis

        redis.Redis.from_url(REDIS).flushdb()
        for n in range(args.workers):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q",
                 "sms,default,audit", "-c", "1", "--loglevel=WARNING", "--without-gossip",
                 "--without-mingle", "--without-heartbeat", "-n", f"bench{n}@%h"],
                cwd=ROOT, env=env))
        time.sleep(4)  # workers up

        campaign = campaign_create(
            plan=plan, name="bench", subject_kind="merchant", by=officer,
            expires_at=timezone.now() + dt.timedelta(days=14), quiet_from_hour=0,
            quiet_until_hour=0, send_rate_per_second=args.rate, reminder_count=0)
        t0 = time.monotonic()
        result = campaign_launch(campaign=campaign, by=officer)  # commits: sending starts
        create_s = time.monotonic() - t0
        print(f"created {result.requests:,} requests + queued invitations in {create_s:.1f} s"
              f" (goal <= {CREATE_GOAL_S:.0f} s)")

        deadline = time.monotonic() + args.timeout
        last = -1
        while time.monotonic() < deadline:
            stats = _standin("/_standin/stats")
            if stats["accepted"] >= result.requests:
                break
            if stats["accepted"] // 20000 != max(last, 0) // 20000:
                print(f"  ... {stats['accepted']:,} sent", flush=True)
            last = stats["accepted"]
            time.sleep(2)
        time.sleep(3)  # the last batch records its outcomes
        stats = _standin("/_standin/stats")
        held = _standin("/_standin/messages")["messages"]
        recipients = {m["to"] for m in held}
        ours = dict(SmsMessage.objects.filter(request__campaign=campaign)
                    .values_list("status").annotate(n=Count("id")))
        sids = SmsMessage.objects.filter(request__campaign=campaign,
                                         provider_sid__isnull=False).count()
        send_rate = stats["raw_rate"]
        print(f"sent {stats['accepted']:,} (429 answered: {stats['rate_limited']:,}) in "
              f"{stats['span_seconds']:.1f} s: {send_rate:,.0f} msg/s")
        print(f"at the stand-in: {len(held):,} messages to {len(recipients):,} distinct "
              f"numbers for {ConsentRequest.objects.filter(campaign=campaign).count():,} "
              f"requests; our database: {ours}, {sids:,} with a provider sid")
        exact = len(held) == len(recipients) == result.requests == sids
        print(f"exactly one SMS per subject: {'yes' if exact else 'NO'}")
        print(f"figure 1: create {create_s:.1f} s (goal <= {CREATE_GOAL_S:.0f} s) "
              f"{'OK' if create_s <= CREATE_GOAL_S else 'MISSED'}")
        ratio = send_rate / ceiling if ceiling else 0
        verdict = "OK" if ratio >= RATIO_GOAL else "MISSED"
        print(f"figure 2: send rate {send_rate:,.0f}/s / ceiling {ceiling:,.0f}/s = "
              f"ratio {ratio:.2f} (goal >= {RATIO_GOAL}) {verdict}")
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not args.keep:
            drop_database(DB)


if __name__ == "__main__":
    main()
