"""The merchant's consent page under load: gunicorn on PostgreSQL, 50 connections, wrk.

Figures, each as a ratio of a one-query Django view served by the same gunicorn in the same
run (the ceiling: `/healthz`, which runs exactly one query, `SELECT 1`, when no broker is
configured — as here — and goes through the same middleware):

1. ``landing``: GET /c/<token>, the page an SMS link opens (the identity form), spread over
   ``--links`` different links (a wrk Lua script picks one at random per request).
2. ``notice``: GET /c/<token>/notice with a verified session (the Art. 17(2) notice and the
   choices), spread over ``--sessions`` different links, each with its own session cookie.

The ceiling and the pages alternate twice (``--seconds`` each, after a warm-up); the best run
of each is compared. Goal: ratio >= 0.6 and p99 <= 100 ms for both pages.

    .venv/bin/python bench/consent_page.py [--links 10000] [--sessions 2000] [--seconds 10]
        [--workers 4] [--connections 50] [--port 8150] [--keep]

Creates (and drops, unless --keep) the database `bench_consent_page` on 127.0.0.1:5432.
Every link is marked opened during setup, so the figure is the steady state of repeat visits
(the first opening of a link writes once: a timestamp and an audit event).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from pgdb import PG, drop_database, recreate_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB = "bench_consent_page"
GOAL_RATIO = 0.6
GOAL_P99_MS = 100.0

LUA = r"""
-- Spread requests over many links: each line of PATHS_FILE is "<path>\t<cookie or ->".
local paths, cookies = {}, {}
for line in io.lines(os.getenv("PATHS_FILE")) do
  local path, cookie = line:match("^(%S+)\t(%S+)$")
  paths[#paths + 1] = path
  cookies[#cookies + 1] = cookie
end
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))

request = function()
  local i = math.random(#paths)
  local headers = {}
  if cookies[i] ~= "-" then headers["Cookie"] = cookies[i] end
  return wrk.format("GET", paths[i], headers)
end

done = function(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "p50_us": %d, "p99_us": %d, ' ..
    '"non2xx": %d, "errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout))
end
"""




def _environment(var_dir: str, cache_url: str) -> dict[str, str]:
    """Production-like: PostgreSQL with persistent connections, DEBUG off, the shared Redis
    cache (rate limits; sessions read through it)."""
    env = dict(os.environ)
    env.update({"DATABASE_URL": f"{PG}/{DB}", "VAR_DIR": var_dir, "DJANGO_DEBUG": "0",
                "CONN_MAX_AGE": "600", "DJANGO_SETTINGS_MODULE": "config.settings",
                "LOG_LEVEL": "WARNING", "CACHE_URL": cache_url})
    env.pop("CELERY_BROKER_URL", None)
    return env


def _setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    django.setup()


def _populate(links: int, sessions: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Subjects, a running campaign, one request and one link per subject; verified sessions
    for the first ``sessions`` links. Returns (landing paths, [(notice path, cookie)])."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from consent.models import Campaign, ConsentLink, ConsentRequest
    from consent.tokens import token_hash
    from governance.crypto import brn_hash
    from governance.models import DataSubject, FieldRule
    from governance.seoul import (
        PLAN_VALUES,
        seoul_catalogue_ensure,
        seoul_operators_ensure,
        seoul_plan_rules,
        synthetic_brn,
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
                       rules=seoul_plan_rules(fields), cutover_at=now + dt.timedelta(days=31),
                       notice_starts_at=now, **PLAN_VALUES)
    plan_submit(plan=plan, by=kim)
    plan = plan_approve(plan=plan, by=lee)
    items = list(FieldRule.objects.filter(plan=plan, field__subject_kind="merchant",
                                          basis=FieldRule.Basis.CONSENT)
                 .values_list("field__key", flat=True))
    expires = now + dt.timedelta(days=14)
    campaign = Campaign.objects.create(plan=plan, name="bench", subject_kind="merchant",
                                       items=items, status=Campaign.Status.RUNNING,
                                       expires_at=expires)
    subjects = DataSubject.objects.bulk_create(
        [DataSubject(kind="merchant", source_operator=operators["KEPF"],
                     external_id=f"M-{i:07d}", brn_hash=brn_hash(synthetic_brn(i)))
         for i in range(links)], batch_size=2000)
    requests = ConsentRequest.objects.bulk_create(
        [ConsentRequest(campaign=campaign, subject=s, expires_at=expires, opened_at=now,
                        status=ConsentRequest.Status.OPENED) for s in subjects],
        batch_size=2000)
    tokens = [secrets.token_urlsafe(16) for _ in requests]
    ConsentLink.objects.bulk_create(
        [ConsentLink(request=r, token_hash=token_hash(t), expires_at=expires)
         for r, t in zip(requests, tokens, strict=True)], batch_size=2000)
    landing = [f"/c/{t}" for t in tokens]
    SessionStore = import_module(settings.SESSION_ENGINE).SessionStore  # noqa: N806
    notice = []
    until = time.time() + 24 * 3600
    for request, token in list(zip(requests, tokens, strict=True))[:sessions]:
        store = SessionStore()
        store["consent_verified"] = {str(request.public_id): {"until": until,
                                                              "factor": "brn"}}
        store.create()
        notice.append((f"/c/{token}/notice",
                       f"{settings.SESSION_COOKIE_NAME}={store.session_key}"))
    return landing, notice


def _forget_sessions() -> None:
    """The bench's sessions are cached in the shared Redis too: remove them."""
    from django.contrib.sessions.models import Session
    from django.core.cache import cache

    try:
        prefix = "django.contrib.sessions.cached_db"
        cache.delete_many([prefix + key for key in
                           Session.objects.values_list("session_key", flat=True)])
    except Exception as exc:  # noqa: BLE001 - cleanup only; they expire anyway
        print(f"(could not remove cached sessions: {exc})")


def _wait_until_up(base: str, server: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not answer within 30 s")


def _check_page(base: str, path: str, cookie: str, expect: str) -> None:
    """The pages must really be the pages (not an error or a redirect) before measuring."""
    request = urllib.request.Request(base + path, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read().decode()
    if response.status != 200 or expect not in body:
        raise RuntimeError(f"{path} did not return the expected page")


def _wrk(base: str, paths_file: Path, script: Path, *, seconds: int, connections: int) -> dict:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s",
         str(script), base],
        env={**os.environ, "PATHS_FILE": str(paths_file)}, capture_output=True, text=True,
        check=True).stdout
    match = re.search(r"^RESULT (.*)$", out, re.M)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    result = json.loads(match.group(1))
    result["rps"] = result["requests"] / result["seconds"]
    result["p99_ms"] = result["p99_us"] / 1000
    if result["non2xx"] or result["errors"]:
        raise RuntimeError(f"wrk saw {result['non2xx']} non-2xx and {result['errors']} errors")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--links", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=2_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1,
                        help="> 1: gunicorn's gthread workers (keep-alive) with this many threads")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--port", type=int, default=8150)
    parser.add_argument("--cache", default="redis://127.0.0.1:6379/10",
                        help="CACHE_URL for the server (shared cache: sessions, rate limits)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-consent-page-"))
    env = _environment(str(work / "var"), args.cache)
    recreate_database(DB)
    _setup_django(env)
    server = None
    try:
        started = time.monotonic()
        landing, notice = _populate(args.links, args.sessions)
        print(f"setup: {args.links} links, {len(notice)} verified sessions in "
              f"{time.monotonic() - started:.1f} s")
        from django.db import connections

        connections.close_all()
        files = {"ceiling": work / "ceiling.txt", "landing": work / "landing.txt",
                 "notice": work / "notice.txt"}
        files["ceiling"].write_text("/healthz\t-\n")
        files["landing"].write_text("".join(f"{p}\t-\n" for p in landing))
        files["notice"].write_text("".join(f"{p}\t{c}\n" for p, c in notice))
        script = work / "spread.lua"
        script.write_text(LUA)

        base = f"http://127.0.0.1:{args.port}"
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "config.wsgi:application",
             "-w", str(args.workers), "-b", f"127.0.0.1:{args.port}", "--backlog", "2048",
             "--log-level", "warning",
             *(["-k", "gthread", "--threads", str(args.threads)] if args.threads > 1 else [])],
            cwd=ROOT, env=env)
        _wait_until_up(base, server)
        _check_page(base, landing[0], "", 'name="answer"')
        _check_page(base, notice[0][0], notice[0][1], "제17조제2항")
        for name in ("ceiling", "landing", "notice"):  # warm-up: every worker, every page
            _wrk(base, files[name], script, seconds=3, connections=args.connections)

        best: dict[str, dict] = {}
        for _round in range(2):
            for name in ("ceiling", "landing", "notice"):
                result = _wrk(base, files[name], script, seconds=args.seconds,
                              connections=args.connections)
                print(f"  {name:8s} {result['rps']:8.0f} req/s   p50 "
                      f"{result['p50_us'] / 1000:6.1f} ms   p99 {result['p99_ms']:6.1f} ms")
                if name not in best or result["rps"] > best[name]["rps"]:
                    best[name] = result
        ceiling = best["ceiling"]["rps"]
        print(f"\nceiling (/healthz, one query): {ceiling:.0f} req/s, "
              f"p99 {best['ceiling']['p99_ms']:.1f} ms "
              f"({args.workers} gunicorn workers x {args.threads} threads, "
              f"{args.connections} connections)")
        for name, label in (("landing", "GET /c/<token> (identity form)"),
                            ("notice", "GET /c/<token>/notice (verified session)")):
            r = best[name]
            ratio = r["rps"] / ceiling
            ok = ratio >= GOAL_RATIO and r["p99_ms"] <= GOAL_P99_MS
            print(f"{label}: {r['rps']:.0f} req/s = {ratio:.2f} of the ceiling "
                  f"(goal >= {GOAL_RATIO}), p99 {r['p99_ms']:.1f} ms (goal <= "
                  f"{GOAL_P99_MS:.0f} ms) {'OK' if ok else 'MISSED'}")
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        if not args.keep:
            _forget_sessions()
            drop_database(DB)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
