"""Where two parties differ, for 2.06 million users, on PostgreSQL; and the disposition of
every won of the same plan.

[1] Figure: `settlement.bulk.balance_list_compare` of the subcontractor's per-subject list
    (2.06 M lines, loaded by COPY) against the source's accepted records (2.06 M users): the
    FULL OUTER JOIN by external id, writing every differing or one-sided user as a
    `BalanceDifference`, then the summary. 300 users differ, 100 are missing from the list,
    100 only in it. Ceiling, in the same run: the same FULL OUTER JOIN of the same two lists
    as one plain `SELECT count(*)`, writing nothing. The two alternate twice (the comparison's
    rows are deleted in between); the best of each is compared. Goal: ratio >= 0.5.
[2] The time to build `settlement.disposition.plan_disposition` for the whole plan (every
    user's record read once, its held reason looked up; 500 objectors, 200 refund cases),
    next to a plain `SELECT count(*), sum(balance)` of the same records.

    .venv/bin/python bench/reconcile.py [--users 2060000] [--keep]

Creates (and drops, unless --keep) the database `bench_reconcile` on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import sys
import tempfile
import time
from pathlib import Path

from pgdb import drop_database, recreate_database, setup_django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB = "bench_reconcile"
GOAL = 0.5
DIFFERING, MISSING, EXTRA = 300, 100, 100
OBJECTORS, REFUNDS = 500, 200


def _balance(i: int) -> int:
    return (i * 1_000) % 500_000


def _populate(users: int):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from governance.models import Operator, OperatorKey
    from governance.seoul import (
        PLAN_VALUES,
        seoul_catalogue_ensure,
        seoul_operators_ensure,
        seoul_plan_rules,
    )
    from governance.services import (
        consent_state_object,
        operator_key_register,
        plan_approve,
        plan_create,
        plan_submit,
    )
    from transfers.models import Upload, UploadBatch

    call_command("migrate", verbosity=0)
    operators = seoul_operators_ensure()
    catalogue = seoul_catalogue_ensure()
    sub, _ = Operator.objects.get_or_create(code="KEPFSUB", defaults={
        "name": "KEPF 재수탁 정산사", "role": Operator.Role.PROCESSOR})
    operator_key_register(operator=sub, purpose=OperatorKey.Purpose.SIGNATURE,
                          public_key=secrets.token_bytes(32), by=None)
    staff = get_user_model()
    kim = staff.objects.create_superuser("bench-kim", password=None)
    lee = staff.objects.create_superuser("bench-lee", password=None)
    now = timezone.now()
    plan = plan_create(by=kim, from_operator=operators["KEPF"], to_operator=operators["SHINHAN"],
                       subcontractor=sub, rules=seoul_plan_rules(catalogue),
                       notice_starts_at=now, cutover_at=now + dt.timedelta(days=60),
                       **PLAN_VALUES)
    plan_submit(plan=plan, by=kim)
    plan = plan_approve(plan=plan, by=lee)
    kepf = operators["KEPF"].pk
    upload = Upload.objects.create(plan=plan, operator_id=kepf, status="complete")
    batch = UploadBatch.objects.create(upload=upload, batch_id="bench", content_sha256="0" * 64,
                                       line_count=users, accepted_count=users,
                                       kind_counts={"user": users},
                                       balance_sum=sum(_balance(i) for i in range(1, users + 1)))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO governance_datasubject (kind, source_operator_id, external_id, "
            "public_id, phone, phone_index, brn_hash, created_at, updated_at) "
            "SELECT 'user', %s, 'U-' || lpad(i::text, 7, '0'), substr(md5(i::text), 1, 24), "
            "'', '', '', now(), now() FROM generate_series(1, %s) i", [kepf, users])
        cursor.execute(
            "INSERT INTO transfers_record (plan_id, upload_id, batch_id, block_id, subject_id, "
            "kind, line, certificate_balance) "
            "SELECT %s, %s, %s, 0, s.id, 'user', row_number() OVER (ORDER BY s.id), "
            "(substr(s.external_id, 3)::bigint * 1000) %% 500000 "
            "FROM governance_datasubject s WHERE s.source_operator_id = %s",
            [plan.pk, upload.pk, batch.pk, kepf])
        cursor.execute("ANALYZE")
    from governance.models import DataSubject

    first = list(DataSubject.objects.filter(source_operator_id=kepf).order_by("id")
                 [:OBJECTORS])
    for subject in first:
        consent_state_object(plan=plan, subject=subject, objected_at=now)
    from settlement.models import RefundCase

    RefundCase.objects.bulk_create(
        RefundCase(plan=plan, lineage=plan.lineage, subject=s, operator_id=kepf,
                   amount=_balance(int(s.external_id[2:])), channel="web")
        for s in first[:REFUNDS])
    return plan, sub


def _subcontractor_list(plan, sub, users: int):
    """The subcontractor's list: every user, but 300 with 500 won more, the last 100
    missing, and 100 it alone holds."""
    from django.db import transaction

    from governance.models import OperatorKey
    from settlement.bulk import balance_lines_load
    from settlement.models import BalanceList

    def rows():
        for i in range(1, users - MISSING + 1):
            balance = _balance(i) + (500 if i % (users // DIFFERING) == 0 and
                                     i // (users // DIFFERING) <= DIFFERING else 0)
            yield f"U-{i:07d}", balance, i % 1000
        for j in range(EXTRA):
            yield f"X-{j:07d}", 1_000, 10

    key = OperatorKey.objects.filter(operator=sub).get()
    balance_list = BalanceList.objects.create(
        plan=plan, operator=sub, role="subcontractor", as_of=plan.approved_at.date(),
        line_count=users - MISSING + EXTRA, body_sha256="0" * 64, key=key,
        nonce=secrets.token_urlsafe(16), payload=b"{}", signature=b"\0" * 64)
    started = time.perf_counter()
    with transaction.atomic():
        loaded = balance_lines_load(balance_list.pk, rows())
    load_seconds = time.perf_counter() - started
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE settlement_balancelistline")
    return balance_list, loaded, load_seconds


def _compare(balance_list, plan) -> tuple[float, dict]:
    from django.db import transaction

    from settlement.bulk import balance_list_compare
    from settlement.models import BalanceDifference

    BalanceDifference.objects.filter(balance_list=balance_list).delete()
    started = time.perf_counter()
    with transaction.atomic():
        summary = balance_list_compare(balance_list.pk, plan.pk)
    return time.perf_counter() - started, summary


def _plain_join(balance_list, plan) -> tuple[float, int]:
    from django.db import connection

    from settlement.bulk import comparison_join_sql

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({comparison_join_sql()}) j",  # noqa: S608
                       [plan.pk, balance_list.pk])
        found = cursor.fetchone()[0]
    return time.perf_counter() - started, found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=2_060_000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    recreate_database(DB)
    setup_django(DB, tempfile.mkdtemp(prefix="bench-reconcile-"))
    try:
        started = time.perf_counter()
        plan, sub = _populate(args.users)
        balance_list, loaded, load_seconds = _subcontractor_list(plan, sub, args.users)
        print(f"populated {args.users:,} users in {time.perf_counter() - started:.1f} s; "
              f"list of {loaded:,} lines loaded by COPY in {load_seconds:.1f} s")
        ours, plain, summary, found = [], [], {}, 0
        for _ in range(2):
            seconds, found = _plain_join(balance_list, plan)
            plain.append(seconds)
            seconds, summary = _compare(balance_list, plan)
            ours.append(seconds)
        expected = {"differing": DIFFERING, "only_accepted": MISSING, "only_listed": EXTRA}
        got = {k: summary[k] for k in expected}
        assert got == expected and found == sum(expected.values()), (got, found)
        ratio = min(plain) / min(ours)
        print(f"[1] comparison {min(ours):.2f} s (runs {', '.join(f'{s:.2f}' for s in ours)}); "
              f"plain FULL OUTER JOIN {min(plain):.2f} s "
              f"(runs {', '.join(f'{s:.2f}' for s in plain)}); ratio {ratio:.2f} "
              f"(goal >= {GOAL}) {'OK' if ratio >= GOAL else 'MISSED'}; found {got}")
        from django.db import connection

        from settlement.disposition import plan_disposition

        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*), sum(certificate_balance) FROM transfers_record "
                           "WHERE plan_id = %s", [plan.pk])
            cursor.fetchone()
        scan = time.perf_counter() - t0
        t0 = time.perf_counter()
        d = plan_disposition(plan)
        build = time.perf_counter() - t0
        assert d.unaccounted.won == 0 and d.unaccounted.count == 0, d.problems
        print(f"[2] disposition of {d.accepted.count:,} users ({d.accepted.won:,} won) built in "
              f"{build:.1f} s (a plain count/sum of the same records: {scan:.2f} s); held "
              f"{ {k: v.count for k, v in d.held.items()} }, refund requested "
              f"{d.refund_requested.count}, unaccounted {d.unaccounted.won}")
    finally:
        if not args.keep:
            drop_database(DB)
    return 0


if __name__ == "__main__":
    sys.exit(main())
