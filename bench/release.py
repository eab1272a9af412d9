"""Bulk release: records/s of the export job and its peak memory, on PostgreSQL.

Figure: `transfers.services.release_export` of 2.06 million users and 270,000 merchants
(every catalogue field, stored encrypted at rest as an upload stores them, in blocks of a
thousand records; 30% of merchants have agreed to two consent items, 5% declined one, 3% of
users objected; per-subject Art. 27 notice evidence for the users: 85% reached 31 days ago,
6% reached 3 days ago, 6% never reached, 3% asked to move now): read the blocks in subject
order, merged with the decisions of the subjects who answered
(`governance.selectors.plan_decisions`), the decisions per notice stage of those the notice
reached (`plan_notice_stages`) and the default decisions for everyone else, keep the allowed
fields, write NDJSON, encrypt each 50,000-record chunk with HPKE, write the release items
(COPY), sign the manifest and record the provision, in one transaction. It runs in a child
process so that its peak RSS (VmHWM) is its own; RSS is also sampled while it runs, to show
it stays flat as the release grows.
Ceiling, in the same run: `COPY (SELECT the same records in the clear, one row each: subject
public id, kind, external id, the fields as JSON text, in subject order) TO STDOUT`, read to
the end by psycopg; best of two (before and after).
Also printed, without a goal: the search for deletions owed (`deletions_detect`, run every
minute) right after 1,000 users the release carried object, and the search after that.

    .venv/bin/python bench/release.py [--users 2060000] [--merchants 270000] [--keep]

Creates and drops the database `bench_release` on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pgdb import drop_database, recreate_database, setup_django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DB = "bench_release"
GOAL_RATIO, GOAL_MB = 0.3, 300


def _setup_django(var_dir: str) -> None:
    setup_django(DB, var_dir)


def _copy(sql: str, lines) -> None:
    from django.db import connection

    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for line in lines:
            copy.write_row(line)


def populate(users: int, merchants: int):
    """An approved plan, the subjects, their encrypted records and consent states (COPY)."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from django.db import connection
    from django.utils import timezone
    from upload import approved_plan

    from governance.crypto import encrypt_text
    from governance.models import DataSubject, OperatorKey
    from governance.services import operator_key_register
    from transfers import synthetic
    from transfers.models import Upload, UploadBatch
    from transfers.services.uploads import StoredRow, records_store

    plan = _approved_long_ago(approved_plan())
    key = X25519PrivateKey.generate()
    operator_key_register(operator=plan.to_operator, purpose=OperatorKey.Purpose.ENCRYPTION,
                          public_key=key.public_key().public_bytes(Encoding.Raw,
                                                                   PublicFormat.Raw), by=None)
    upload = Upload.objects.create(plan=plan, operator=plan.from_operator)
    batch = UploadBatch.objects.create(upload=upload, batch_id="bench", content_sha256="0")
    now = timezone.now()
    phone_token = encrypt_text("+821000000000")  # realistic width; the release never reads it
    kinds = [("merchant", merchants), ("user", users)]
    print("loading subjects ...", flush=True)
    _copy(f"COPY {DataSubject._meta.db_table} (kind, source_operator_id, external_id, "
          "public_id, phone, phone_index, brn_hash, created_at, updated_at) FROM STDIN",
          ((kind, plan.from_operator_id, (synthetic.merchant_row if kind == "merchant"
                                          else synthetic.user_row)(i)["external_id"],
            secrets.token_hex(12), phone_token, "", "", now, now)
           for kind, count in kinds for i in range(1, count + 1)))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, public_id FROM {DataSubject._meta.db_table} ORDER BY id")
        subjects = cursor.fetchall()
    ids = [sid for sid, _ in subjects]
    print("loading encrypted records (records_store: blocks and record rows) ...", flush=True)
    # The ceiling's table: the same records in the clear, one row each (see CEILING_SQL).
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_release_plain (subject_id bigint PRIMARY KEY, "
                       "fields text NOT NULL)")
    n = 0
    for kind, count in kinds:
        make = synthetic.merchant_row if kind == "merchant" else synthetic.user_row
        for start in range(1, count + 1, 50_000):
            stored, plain = [], []
            for i in range(start, min(start + 50_000, count + 1)):
                row = make(i)
                values = {k: v for k, v in row.items() if "." in k}
                sid, public_id = subjects[n]
                stored.append(StoredRow(sid, public_id, row["external_id"], i, values,
                                        values.get("user.certificate_balance")))
                plain.append((sid, json.dumps(values, ensure_ascii=False)))
                n += 1
            records_store(plan_id=plan.pk, upload_id=upload.pk, batch_id=batch.pk, kind=kind,
                          rows=stored)
            _copy("COPY bench_release_plain (subject_id, fields) FROM STDIN", plain)
    rng = random.Random(7)
    states, notices = [], []
    for n, sid in enumerate(ids):
        roll = rng.random()
        if n < merchants and roll < 0.30:
            states.append((plan.pk, sid, json.dumps(["merchant.email",
                                                     "merchant.settlement_bank_account"]),
                           json.dumps(["merchant.marketing_opt_in"] if roll < 0.05 else []),
                           False, now, now, "", None))
        elif n >= merchants and roll < 0.03:
            states.append((plan.pk, sid, "[]", "[]", True, now, now, "", None))
        if n >= merchants:
            state, notified_at = _user_notice(rng, now)
            if notified_at is not None:
                notices.append((plan.lineage, sid, notified_at, "lms", now))
            if state == "early" and not (states and states[-1][1] == sid):
                states.append((plan.pk, sid, "[]", "[]", False, now, now, "", now))
    _copy("COPY governance_subjectconsentstate (plan_id, subject_id, fields_granted, "
          "fields_declined, objected, answered_at, updated_at, notice_hash, "
          "early_requested_at) FROM STDIN", states)
    _copy("COPY governance_subjectnotice (lineage, subject_id, notified_at, channel, "
          "updated_at) FROM STDIN", notices)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return plan, len(ids)


def _user_notice(rng: random.Random, now) -> tuple[str, object]:
    """One user's Art. 27 notice: (its state, when the notice reached them or None). 85%
    reached 31 days ago (they move), 6% reached 3 days ago (their period runs), 6% never
    reached (held back), 3% asked to move now (half of them reached 3 days ago)."""
    roll = rng.random()
    if roll < 0.85:
        return "moves", now - dt.timedelta(days=31)
    if roll < 0.91:
        return "waits", now - dt.timedelta(days=3)
    if roll < 0.97:
        return "unreached", None
    return "early", (now - dt.timedelta(days=3)) if roll < 0.985 else None


def _approved_long_ago(plan):
    """The plan was approved (with its notice starting then) 32 days ago: approval refuses a
    notice start in the past, so the past is arranged after it, as tests/history.py does."""
    from governance.models import TransferPlan

    TransferPlan.objects.filter(lineage=plan.lineage).update(
        approved_at=plan.approved_at - dt.timedelta(days=32),
        notice_starts_at=plan.notice_starts_at - dt.timedelta(days=32))
    plan.refresh_from_db()
    return plan


# The same records in the clear, one row each (the release stores them in encrypted blocks, so
# there is no per-record column of its own to copy): subject ids, kinds and external ids from
# the subjects, the fields as JSON text, in subject order.
CEILING_SQL = ("COPY (SELECT s.public_id, s.kind, s.external_id, p.fields "
               "FROM bench_release_plain p JOIN governance_datasubject s ON s.id = p.subject_id "
               "JOIN transfers_record r ON r.subject_id = p.subject_id AND r.plan_id = {plan} "
               "ORDER BY p.subject_id) TO STDOUT")


def ceiling(plan_id: int) -> tuple[float, int]:
    from django.db import connection

    rows = 0
    started = time.perf_counter()
    with connection.cursor() as cursor, cursor.cursor.copy(
            CEILING_SQL.format(plan=plan_id)) as copy:
        for block in copy:
            rows += bytes(block).count(b"\n")
    return time.perf_counter() - started, rows


def _hwm_mb() -> float:
    """Peak RSS of this process image (VmHWM). Not ru_maxrss: Linux carries the forking
    parent's high-water mark across exec into ru_maxrss."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(release_id: int) -> None:
    """Run the export in this process and report time, peak RSS and RSS samples."""
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    started = time.perf_counter()

    def sample():
        while not stop.is_set():
            with open("/proc/self/statm") as fh:
                rss = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
            samples.append((time.perf_counter() - started, rss))
            stop.wait(0.5)

    from transfers.services import release_export

    baseline = _hwm_mb()
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    started = time.perf_counter()
    profile_to = os.environ.get("BENCH_RELEASE_PROFILE")  # a path: cProfile stats go there
    if profile_to:
        import cProfile

        profiler = cProfile.Profile()
        release = profiler.runcall(release_export, release_id=release_id)
        profiler.dump_stats(profile_to)
    else:
        release = release_export(release_id=release_id)
    seconds = time.perf_counter() - started
    stop.set()
    thread.join()
    manifest = json.loads(bytes(release.manifest))
    print(json.dumps({"seconds": seconds, "records": release.record_count,
                      "user_name_denied": manifest["counts"]["denied_by_field"].get(
                          "user.name", {}),
                      "user_name_released": manifest["counts"]["fields"].get("user.name", 0),
                      "chunks": release.chunk_count, "baseline_mb": baseline,
                      "peak_mb": _hwm_mb(),
                      "samples": samples}))


def deletion_search(plan, changed: int) -> tuple[float, int, float]:
    """`changed` users the release carried object at once (as at a cut-over): seconds of the
    next search for deletions owed, notices it created, seconds of the search after it."""
    from django.utils import timezone

    from governance.models import DataSubject
    from governance.services import consent_state_object
    from transfers.services import deletions_detect

    users = list(DataSubject.objects.filter(kind="user").order_by("?")[:changed])
    for subject in users:
        consent_state_object(plan=plan, subject=subject, objected_at=timezone.now())
    started = time.perf_counter()
    notices = len(deletions_detect(plan=plan))
    first = time.perf_counter() - started
    started = time.perf_counter()
    deletions_detect(plan=plan)
    return first, notices, time.perf_counter() - started


def _recipient_key_new(operator, suite: str) -> None:
    """A new current encryption key of ``suite`` for the recipient: the classical X25519 or
    the post-quantum hybrid (ML-KEM-768 + X25519), whose releases use that HPKE suite."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from governance.models import OperatorKey
    from governance.services import operator_key_register
    from transfers.client import hybrid_keys_new
    from transfers.services.keys import recipient_hybrid_key_register

    if suite == "hybrid":
        _keys, public = hybrid_keys_new()
        recipient_hybrid_key_register(operator=operator, public_key=public, by=None)
        return
    public = X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw,
                                                                   PublicFormat.Raw)
    operator_key_register(operator=operator, purpose=OperatorKey.Purpose.ENCRYPTION,
                          public_key=public, by=None)


def _report(run: str, result: dict, rows: int, copy_seconds: float) -> None:
    """One export's figures against the better of the COPY ceilings just before and after."""
    figure = result["records"] / result["seconds"]
    ceiling_rate = rows / copy_seconds
    samples = result["samples"]
    marks = [samples[min(len(samples) - 1, int(len(samples) * f))][1]
             for f in (0.1, 0.25, 0.5, 0.75, 0.99)]
    print(f"run {run}: release export: {result['records']:,} records in "
          f"{result['seconds']:.1f} s = {figure:,.0f} records/s ({result['chunks']} chunks)")
    print(f"  ceiling COPY TO STDOUT of the same rows: {rows:,} rows in {copy_seconds:.1f} s "
          f"= {ceiling_rate:,.0f} rows/s")
    print(f"  ratio {figure / ceiling_rate:.2f} (goal >= {GOAL_RATIO}); load average "
          f"{os.getloadavg()[1]:.1f} over the last 5 minutes on {os.cpu_count()} cores")
    print(f"  peak RSS of the export process {result['peak_mb']:.0f} MB (goal <= {GOAL_MB} "
          f"MB, flat); after Django start-up {result['baseline_mb']:.0f} MB; RSS at "
          f"10/25/50/75/99% of the run: " + " / ".join(f"{m:.0f}" for m in marks) + " MB")
    print("  user.name (Art. 27): released "
          f"{result['user_name_released']:,}, held back "
          + ", ".join(f"{reason} {n:,}" for reason, n
                      in sorted(result["user_name_denied"].items())), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=2_060_000)
    parser.add_argument("--merchants", type=int, default=270_000)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--runs", type=int, default=2,
                        help="exports of the same data per suite, each between two COPY "
                             "ceilings")
    parser.add_argument("--suites", default="classical,hybrid",
                        help="recipient key suites, comma-separated: classical (X25519, the "
                             "goal's) and hybrid (ML-KEM-768 + X25519)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--var-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _setup_django(args.var_dir)
        child(args.child)
        return
    recreate_database(DB)
    var_dir = tempfile.mkdtemp(prefix="bench-release-")
    _setup_django(var_dir)
    try:
        t0 = time.perf_counter()
        plan, total = populate(args.users, args.merchants)
        print(f"loaded {total:,} subjects and records in {time.perf_counter() - t0:.0f} s",
              flush=True)
        from django.db import connection
        from django.utils import timezone

        from governance.models import OperatorKey
        from governance.selectors import operator_current_key
        from transfers.models import Release

        copy_seconds, rows = ceiling(plan.pk)
        exports = [(run, suite) for run in range(1, args.runs + 1)
                   for suite in args.suites.split(",")]
        for number, (run, suite) in enumerate(exports, start=1):
            _recipient_key_new(plan.to_operator, suite)
            # Each export is a full first release: the one before it is set aside (failed),
            # so nothing counts as carried already.
            Release.objects.filter(plan=plan).update(status=Release.Status.FAILED)
            release = Release.objects.create(
                plan=plan, number=number, recipient=plan.to_operator, as_of=timezone.now(),
                recipient_key=operator_current_key(plan.to_operator,
                                                   OperatorKey.Purpose.ENCRYPTION),
                requested_by="system:bench")
            connection.close()
            out = subprocess.run([sys.executable, __file__, "--child", str(release.pk),
                                  "--var-dir", var_dir], capture_output=True, text=True,
                                 check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            copy_after, _ = ceiling(plan.pk)
            _report(f"{run} ({suite})", result, rows, min(copy_seconds, copy_after))
            copy_seconds = copy_after
        Release.objects.filter(pk=release.pk).update(status=Release.Status.READY)
        first, notices, next_one = deletion_search(plan, changed=1000)
        print(f"deletions owed after 1,000 users it carried object: {notices:,} notices found "
              f"in {first:.2f} s; the next search (nothing new) {next_one:.2f} s")
    finally:
        if not args.keep:
            drop_database(DB)


if __name__ == "__main__":
    main()
