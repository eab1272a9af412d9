"""Upload with validation: rows/s of the outgoing operator's upload, on PostgreSQL.

Figure: `transfers.services.upload_batch_receive` over 2.06 million users and 270,000
merchants (every catalogue field, synthetic values), sent as NDJSON batches of --batch rows:
parse, validate every field (E.164 phones, BRN check digit, QR id, types, duplicates within
and across batches), create the data subjects (governance.services.subjects_upsert: phone
encrypted with its blind index, BRN hash; on PostgreSQL one lookup, then COPY), store the
accepted values at rest in blocks of a thousand records (one Fernet token of compressed
lines each, `transfers.blocks`) and one record row each (COPY), and the batch report and audit
event, each batch one transaction (deferred foreign-key checks run at its commit).
Ceiling, in the same run: `COPY ... FROM STDIN` of the same rows (one text column per field)
into a plain table. The batch bodies are built before the clock starts, for both.

    .venv/bin/python bench/upload.py [--users 2060000] [--merchants 270000] [--batch 50000]

Creates and drops the database `bench_upload` on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from pgdb import drop_database, recreate_database, setup_django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB = "bench_upload"
GOAL = 0.25




def _setup_django() -> None:
    setup_django(DB, os.environ.get("VAR_DIR") or tempfile.mkdtemp(prefix="bench-upload-"))


def approved_plan():
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

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
    return plan_approve(plan=plan, by=lee)


def batches(users: int, merchants: int, size: int):
    """(batch id, NDJSON body, the rows) for all subjects, merchants first."""
    from transfers import synthetic

    plan = [("merchant", merchants), ("user", users)]
    n = 0
    for kind, count in plan:
        for start in range(1, count + 1, size):
            rows = list(synthetic.rows(kind, start, min(size, count - start + 1)))
            body = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)
            n += 1
            yield f"b{n:05d}", body, rows




def copy_ceiling(batch_list) -> float:
    from django.db import connection

    from transfers import synthetic

    keys = sorted((set(synthetic.merchant_row(1)) | set(synthetic.user_row(1)))
                  - {"kind", "external_id"})
    columns = ["kind", "external_id", *keys]
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy_rows")
        cursor.execute("CREATE TABLE bench_copy_rows (id bigserial primary key, "
                       + ", ".join(f'"{c}" text' for c in columns) + ")")
    total = 0.0
    for _batch_id, _body, rows in batch_list:
        values = [[r.get(c) if not isinstance(r.get(c), list | dict) else json.dumps(r[c])
                   for c in columns] for r in rows]
        started = time.perf_counter()
        with connection.cursor() as cursor, cursor.cursor.copy(
                "COPY bench_copy_rows (" + ", ".join(f'"{c}"' for c in columns)
                + ") FROM STDIN") as copy:
            for row in values:
                copy.write_row([None if v is None else str(v) for v in row])
        connection.commit() if not connection.get_autocommit() else None
        total += time.perf_counter() - started
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=2_060_000)
    parser.add_argument("--merchants", type=int, default=270_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    recreate_database(DB)
    _setup_django()
    from transfers.services import upload_batch_receive, upload_complete, upload_create

    try:
        plan = approved_plan()
        by = ("operator", "operator:KEPF")
        upload = upload_create(plan=plan, by=by)
        rows_total = args.users + args.merchants
        upload_seconds = copy_seconds = 0.0
        accepted = 0
        print(f"upload of {args.merchants:,} merchants + {args.users:,} users in batches of "
              f"{args.batch:,} (NDJSON, every field)", flush=True)
        for batch_id, body, rows in batches(args.users, args.merchants, args.batch):
            started = time.perf_counter()
            result = upload_batch_receive(upload=upload, batch_id=batch_id, body=body,
                                          content_type="application/x-ndjson", by=by)
            upload_seconds += time.perf_counter() - started
            accepted += result.batch.accepted_count
            assert result.batch.rejected_count == 0, result.batch.rejections[:3]
            # The ceiling for the same rows, right after (noise hits both alike).
            copy_seconds += copy_ceiling([(batch_id, body, rows)])
            print(f"  {batch_id}: {accepted:,} rows, upload {accepted / upload_seconds:,.0f} "
                  f"rows/s, COPY {accepted / copy_seconds:,.0f} rows/s", flush=True)
        upload_complete(upload=upload, by=by)
        assert accepted == rows_total
        figure, ceiling = rows_total / upload_seconds, rows_total / copy_seconds
        print(f"upload with validation: {figure:,.0f} rows/s ({upload_seconds:.1f} s)")
        print(f"ceiling COPY FROM STDIN of the same rows: {ceiling:,.0f} rows/s "
              f"({copy_seconds:.1f} s)")
        print(f"ratio {figure / ceiling:.2f} (goal >= {GOAL})")
    finally:
        if not args.keep:
            drop_database(DB)


if __name__ == "__main__":
    main()
