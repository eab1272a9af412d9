"""The whole rehearsal at full scale, on the production set-up, with each stage timed.

Starts, on this machine: a fresh PostgreSQL database (`bench_rehearsal`), the Twilio stand-in,
gunicorn (--web processes), Celery workers on Redis (db 7) for every queue, then runs
`manage.py rehearse --base-url … --standin-url …` against them and prints each stage's time
and the total next to the goal (the whole move rehearsed in <= 30 minutes on 2 cores).

There is no in-run ceiling to divide by here: the figure is the wall-clock time of the whole
story, and the stage table says where it goes. The machine is shared and noisy: run it when
nothing else runs.

    .venv/bin/python bench/rehearsal.py [--merchants 270000] [--users 2060000] [--web 3]
                                        [--workers 2] [--http-answers 3000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from pgdb import PG, drop_database, recreate_database

ROOT = Path(__file__).resolve().parent.parent
DB = "bench_rehearsal"
REDIS = "redis://127.0.0.1:6379/7"
WEB_PORT, STANDIN_PORT = 8410, 8411
GOAL_SECONDS = 30 * 60



def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback only
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--merchants", type=int, default=270_000)
    parser.add_argument("--users", type=int, default=2_060_000)
    parser.add_argument("--web", type=int, default=3, help="gunicorn processes")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--http-answers", type=int, default=3000)
    parser.add_argument("--sms-users", type=int, default=20_000,
                        help="users notified by SMS; the rest are told in the app")
    parser.add_argument("--callbacks", action="store_true",
                        help="the stand-in posts delivery callbacks (2 webhooks per SMS)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    subprocess.run([str(ROOT / "scripts" / "services.sh"), "ensure", "pg", "redis"],
                   check=True, capture_output=True)
    recreate_database(DB)
    var = Path(tempfile.mkdtemp(prefix="bench-rehearsal-"))
    sid, token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
    env = {**os.environ, "DATABASE_URL": f"{PG}/{DB}", "CELERY_BROKER_URL": REDIS,
           "CACHE_URL": REDIS, "VAR_DIR": str(var), "DJANGO_SETTINGS_MODULE": "config.settings",
           "DJANGO_DEBUG": "0", "SMS_PROVIDER": "twilio", "TWILIO_ACCOUNT_SID": sid,
           "TWILIO_AUTH_TOKEN": token, "TWILIO_MESSAGING_SERVICE_SID": "MG" + "0" * 32,
           "TWILIO_API_BASE": f"http://127.0.0.1:{STANDIN_PORT}",
           "PUBLIC_BASE_URL": f"http://127.0.0.1:{WEB_PORT}", "LOG_LEVEL": "WARNING",
           # The rehearsal plan's one-day notice period, a day as `rehearse` counts it.
           "REHEARSAL_DAY_SECONDS": "20",
           "SMS_SEND_RATE_PER_SECOND": "2000",
           # gunicorn stands behind a TLS proxy in production; here the simulated people's
           # X-Forwarded-For plays the proxy's part (one address per phone).
           "BEHIND_TLS_PROXY": "1"}
    py = sys.executable
    subprocess.run([py, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    processes = []
    try:
        processes.append(subprocess.Popen(
            [py, "-m", "consent.sms.standin", "--port", str(STANDIN_PORT), "--account-sid", sid,
             "--auth-token", token, *(["--callbacks"] if args.callbacks else [])],
            cwd=ROOT, env=env))
        processes.append(subprocess.Popen(
            [str(Path(py).parent / "gunicorn"), "config.wsgi", "-b", f"127.0.0.1:{WEB_PORT}",
             "-w", str(args.web), "--timeout", "600", "--log-level", "warning"],
            cwd=ROOT, env=env))
        for n in range(args.workers):
            processes.append(subprocess.Popen(
                [py, "-m", "celery", "-A", "config", "worker", "-Q",
                 "default,audit,sms,exports", "--concurrency", "1", "--loglevel", "WARNING",
                 "-n", f"bench-rehearsal-{n}@%h", "--without-gossip", "--without-mingle"],
                cwd=ROOT, env=env))
        _wait_http(f"http://127.0.0.1:{WEB_PORT}/healthz")
        started = time.monotonic()
        result = subprocess.run(
            [py, "manage.py", "rehearse", "--merchants", str(args.merchants), "--users",
             str(args.users), "--http-answers", str(args.http_answers), "--sms-users",
             str(args.sms_users), "--base-url",
             f"http://127.0.0.1:{WEB_PORT}", "--standin-url",
             f"http://127.0.0.1:{STANDIN_PORT}"], cwd=ROOT, env=env)
        total = time.monotonic() - started
        summary = subprocess.run(
            [py, "manage.py", "shell", "-v0", "-c",
             "import json; from operations.models import RehearsalRun; "
             "print(json.dumps(RehearsalRun.objects.latest('started_at').summary))"],
            cwd=ROOT, env=env, capture_output=True, text=True)
        stages = json.loads(summary.stdout.strip().splitlines()[-1]).get("stages", [])
        print(f"\nrehearsal of {args.merchants:,} merchants and {args.users:,} users on "
              f"PostgreSQL, {args.web} gunicorn + {args.workers} Celery workers on Redis:")
        for stage in stages:
            print(f"  {stage['label']:<44} {stage['seconds']:9.1f} s  {stage['note']}")
        verdict = "OK" if total <= GOAL_SECONDS and result.returncode == 0 else "MISSED"
        print(f"whole rehearsal: {total / 60:.1f} min (goal <= {GOAL_SECONDS // 60} min) "
              f"{verdict}; rehearse exited {result.returncode}")
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        if not args.keep:
            drop_database(DB)


if __name__ == "__main__":
    main()
