"""Policy decisions per second for a whole plan: 270,000 merchants x 20 fields, on PostgreSQL.

Figure: `governance.selectors.plan_decisions` over the whole plan, building every input from
the database (rules, disputes, older versions' answers, one server-side cursor over the
subjects joined with their consent state and their Art. 27 notice evidence) and deciding each
of the 20 fields per merchant. 60% of the merchants answered (3% of them asked to move now);
the notice reached 85% of them 31 days ago, 8% 3 days ago, 7% never.
Ceiling, in the same run: reading the same rows with one plain query (a psycopg binary
server-side cursor, as plan_decisions uses, over the subjects LEFT JOINed with their consent
state for the plan and their notice for its lineage, the answers as JSON text), doing nothing
with them. The two alternate twice; the best of each is compared.

    .venv/bin/python bench/policy.py [--merchants 270000] [--keep]

Creates (and drops, unless --keep) the database `bench_governance` on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path

from pgdb import PG, drop_database, recreate_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB = "bench_governance"
GOAL = 0.5  # the decisions for a merchant cost at most as much again as reading its row




def _setup_django() -> None:
    os.environ["DATABASE_URL"] = f"{PG}/{DB}"
    os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="bench-governance-"))
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()


EXTRA_FIELDS = [  # 7 more merchant fields so that each merchant has 20 decisions
    ("merchant.bench_opening_hours", False, "not_personal"),
    ("merchant.bench_terminal_count", False, "not_personal"),
    ("merchant.bench_contract_date", False, "entrustment_return"),
    ("merchant.bench_tax_invoices", True, "legal_obligation"),
    ("merchant.bench_notice_contact", True, "notice_opt_out"),
    ("merchant.bench_sns_handle", True, "consent"),
    ("merchant.bench_credit_rating", True, "prohibited"),
]
CONSENT_KEYS = ["merchant.settlement_bank_account", "merchant.email",
                "merchant.marketing_opt_in", "merchant.bench_sns_handle"]


def _populate(merchants: int):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from governance.crypto import encrypt_text
    from governance.models import Field, TransferPlan
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
    for i, (key, personal, _basis) in enumerate(EXTRA_FIELDS):
        fields[key] = Field.objects.create(
            key=key, subject_kind="merchant", label_ko=key, label_en=key, category="business",
            personal=personal, position=100 + i)
    rules = [r for r in seoul_plan_rules(fields) if r[0].subject_kind == "merchant"]
    rules += [(fields[k], basis, False) for k, _p, basis in EXTRA_FIELDS]
    assert len(rules) == 20
    users = get_user_model().objects
    kim = users.create_superuser("bench-kim", password=None)
    lee = users.create_superuser("bench-lee", password=None)
    now = timezone.now()
    plan = plan_create(by=kim, from_operator=operators["KEPF"], to_operator=operators["SHINHAN"],
                       rules=rules, notice_starts_at=now, **PLAN_VALUES)
    plan_submit(plan=plan, by=kim)
    plan = plan_approve(plan=plan, by=lee)
    # Approval refuses a notice start in the past: arrange the past after it (as
    # tests/history.py does), so that evidence of 31 days ago follows the approval.
    TransferPlan.objects.filter(pk=plan.pk).update(
        approved_at=now - dt.timedelta(days=32), notice_starts_at=now - dt.timedelta(days=32))
    plan.refresh_from_db()

    rng = random.Random(42)
    token = encrypt_text("+821000000000")  # realistic row width; never read by the figure
    stamp = now.isoformat()
    buf = io.StringIO()
    for i in range(merchants):
        buf.write(f"merchant\t{operators['KEPF'].pk}\tM-{i:07d}\t{secrets.token_hex(12)}\t"
                  f"{token}\t{secrets.token_hex(32)}\t{secrets.token_hex(32)}\t{stamp}\t"
                  f"{stamp}\n")
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy("COPY governance_datasubject (kind, source_operator_id, external_id, "
                      "public_id, phone, phone_index, brn_hash, created_at, updated_at) "
                      "FROM STDIN") as copy:
            copy.write(buf.getvalue())
        cursor.execute("SELECT id FROM governance_datasubject ORDER BY id")
        ids = [row[0] for row in cursor.fetchall()]
    # Consent states: 60% of merchants answered, in a realistic spread of answers.
    buf = io.StringIO()
    answered = 0
    for subject_id in ids:
        if rng.random() >= 0.6:
            continue
        answered += 1
        granted = [k for k in CONSENT_KEYS if rng.random() < 0.7]
        declined = [k for k in CONSENT_KEYS if k not in granted and rng.random() < 0.5]
        objected = "t" if rng.random() < 0.02 else "f"
        withdrawn = stamp if rng.random() < 0.03 else r"\N"
        expires = (now + dt.timedelta(days=rng.choice([-1, 30, 365]))).isoformat() \
            if rng.random() < 0.3 else r"\N"
        early = stamp if rng.random() < 0.03 else r"\N"  # asked to move now
        buf.write(f"{plan.pk}\t{subject_id}\t{_json(granted)}\t{_json(declined)}\t{objected}\t"
                  f"{stamp}\t{withdrawn}\t{expires}\t\t{stamp}\t{early}\n")
    notices = io.StringIO()
    reached = 0
    for subject_id in ids:
        notified_at = _notified_at(rng, now)
        if notified_at is not None:
            reached += 1
            notices.write(f"{plan.lineage}\t{subject_id}\t{notified_at.isoformat()}\tlms\t"
                          f"{stamp}\n")
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
                "COPY governance_subjectconsentstate (plan_id, subject_id, fields_granted, "
                "fields_declined, objected, answered_at, withdrawn_at, expires_at, "
                "notice_hash, updated_at, early_requested_at) FROM STDIN") as copy:
            copy.write(buf.getvalue())
        with cursor.cursor.copy(
                "COPY governance_subjectnotice (lineage, subject_id, notified_at, channel, "
                "updated_at) FROM STDIN") as copy:
            copy.write(notices.getvalue())
        cursor.execute("ANALYZE")
    return plan, answered, reached


def _notified_at(rng: random.Random, now):
    """When the Art. 27 notice reached one merchant, or None: 85% 31 days ago (their period
    has run), 8% 3 days ago (it runs), 7% never."""
    roll = rng.random()
    if roll < 0.85:
        return now - dt.timedelta(days=31, seconds=rng.randrange(86_400))
    if roll < 0.93:
        return now - dt.timedelta(days=3, seconds=rng.randrange(86_400))
    return None


def _json(values: list[str]) -> str:
    import json

    return json.dumps(values)


def _ceiling(plan) -> tuple[float, int]:
    """One plain query: the same rows, through a binary server-side cursor, doing nothing."""
    from django.db import connection, transaction

    # The answer lists as text, as plan_decisions reads them (decoding JSON per row is not
    # part of reading a row).
    sql = ("SELECT s.id, s.public_id, s.kind, s.external_id, cs.id, cs.fields_granted::text, "
           "cs.fields_declined::text, cs.objected, cs.withdrawn_at, cs.expires_at, "
           "cs.early_requested_at, nt.notified_at "
           "FROM governance_datasubject s LEFT JOIN governance_subjectconsentstate cs "
           "ON cs.subject_id = s.id AND cs.plan_id = %s "
           "LEFT JOIN governance_subjectnotice nt ON nt.subject_id = s.id AND nt.lineage = %s "
           "WHERE s.source_operator_id = %s AND s.kind IN ('merchant') ORDER BY s.id")
    start = time.perf_counter()
    rows = 0
    with transaction.atomic():
        connection.ensure_connection()
        # Binary, like plan_decisions' own cursor: in text, parsing the timestamps alone
        # would be most of the ceiling's time, and the ratio would flatter the figure.
        with connection.connection.cursor(name="bench_ceiling", binary=True) as cursor:
            cursor.itersize = 5000
            cursor.execute(sql, [plan.pk, plan.lineage, plan.from_operator_id])
            for _row in cursor:
                rows += 1
    return time.perf_counter() - start, rows


def _figure(plan) -> tuple[float, int, int]:
    from django.db import transaction
    from django.utils import timezone

    from governance.selectors import plan_decisions

    now = timezone.now()
    start = time.perf_counter()
    subjects = decisions = 0
    with transaction.atomic():
        for _ref, fields in plan_decisions(plan, now=now):
            subjects += 1
            decisions += len(fields)
    return time.perf_counter() - start, subjects, decisions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--merchants", type=int, default=270_000)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()

    recreate_database(DB)
    _setup_django()
    try:
        t0 = time.perf_counter()
        plan, answered, reached = _populate(args.merchants)
        print(f"data: {args.merchants:,} merchants, {answered:,} consent states, {reached:,} "
              f"reached by the notice, 20 field rules "
              f"(loaded in {time.perf_counter() - t0:.1f} s)")
        ceilings, figures = [], []
        for _ in range(2):
            seconds, rows = _ceiling(plan)
            ceilings.append(seconds)
            print(f"  ceiling run: {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s")
            seconds, subjects, decisions = _figure(plan)
            figures.append(seconds)
            print(f"  figure run:  {subjects:,} subjects, {decisions:,} decisions in "
                  f"{seconds:.2f} s = {decisions / seconds:,.0f} decisions/s")
        assert rows == subjects == args.merchants
        best_ceiling, best_figure = min(ceilings), min(figures)
        ceiling_rate, figure_rate = rows / best_ceiling, subjects / best_figure
        ratio = figure_rate / ceiling_rate
        print(f"plan_decisions: {decisions / best_figure:,.0f} decisions/s "
              f"({figure_rate:,.0f} subjects/s x 20 fields, whole plan in {best_figure:.2f} s)")
        print(f"ceiling (one plain query, binary server-side cursor): {ceiling_rate:,.0f} rows/s "
              f"({best_ceiling:.2f} s)")
        print(f"ratio (subjects/s decided vs rows/s read): {ratio:.2f}   goal >= {GOAL}   "
              f"{'OK' if ratio >= GOAL else 'BELOW GOAL'}   (load average "
              f"{os.getloadavg()[1]:.1f} over 5 minutes, {os.cpu_count()} cores)")
    finally:
        if not args.keep:
            drop_database(DB)


if __name__ == "__main__":
    main()
