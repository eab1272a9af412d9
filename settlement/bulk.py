"""The raw SQL of settlement: loading a party's per-subject balance list and comparing it with
the accepted records. Everything else in the app is plain ORM.

Contract (tests/settlement/test_balance_lists.py checks it):

- `balance_lines_load(list_id, rows)` stores every (external_id, balance, fee) of ``rows`` as
  `BalanceListLine`s of the list, in one statement stream (COPY on PostgreSQL, batched
  inserts elsewhere), inside the caller's transaction; a repeated external id fails the
  unique constraint (the caller refuses the list before loading it).
- `balance_list_compare(list_id, plan_id)` writes one `BalanceDifference` for each user of
  the plan's accepted records whose balance the list states otherwise (``differs``), that the
  list lacks (``only_accepted``) or that only the list has (``only_listed``), matched by
  external id, an accepted record without a balance counting as 0 won; and returns the
  summary: {"matching", "differing", "only_accepted", "only_listed", "difference_sum"
  (listed - accepted over the differing), "listed_lines", "listed_balance_sum",
  "listed_fee_sum"}. One FULL OUTER JOIN of the two lists, then aggregates of the list and of
  the (few) differences; the same SQL on PostgreSQL and SQLite (3.39 or later).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from settlement.models import BalanceDifference, BalanceListLine

_COPY_ROWS = 50_000


def balance_lines_load(list_id: int, rows: Iterable[tuple[str, int, int]]) -> int:
    """Store the list's lines; returns how many."""
    if connection.vendor == "postgresql":
        return _copy_lines(list_id, rows)
    count, batch = 0, []
    for external_id, balance, fee in rows:
        batch.append(BalanceListLine(balance_list_id=list_id, external_id=external_id,
                                     balance=balance, fee=fee))
        if len(batch) >= 5_000:
            BalanceListLine.objects.bulk_create(batch)
            count, batch = count + len(batch), []
    BalanceListLine.objects.bulk_create(batch)
    return count + len(batch)


def _copy_lines(list_id: int, rows: Iterable[tuple[str, int, int]]) -> int:
    table = BalanceListLine._meta.db_table
    count = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3: COPY ... FROM STDIN with typed rows
        with raw.copy(f"COPY {table} (balance_list_id, external_id, balance, fee) "  # noqa: S608
                      "FROM STDIN") as copy:
            for external_id, balance, fee in rows:
                copy.write_row((list_id, external_id, balance, fee))
                count += 1
    return count


def _accepted_users_sql() -> str:
    return ("SELECT s.external_id AS external_id, r.subject_id AS subject_id, "
            "COALESCE(r.certificate_balance, 0) AS balance "
            "FROM transfers_record r JOIN governance_datasubject s ON s.id = r.subject_id "
            "WHERE r.plan_id = %s AND r.kind = 'user'")


def comparison_join_sql() -> str:
    """The FULL OUTER JOIN of the accepted users (a) and the list (l): what the comparison
    selects; the benchmark times it bare against the whole comparison."""
    return (
        "SELECT CASE WHEN a.subject_id IS NULL THEN 'only_listed' "  # noqa: S608 - constant
        "WHEN l.external_id IS NULL THEN 'only_accepted' ELSE 'differs' END AS kind, "
        "COALESCE(a.external_id, l.external_id) AS external_id, a.subject_id, "
        "a.balance AS accepted_balance, l.balance AS listed_balance, l.fee AS listed_fee "
        f"FROM ({_accepted_users_sql()}) a "
        "FULL OUTER JOIN (SELECT external_id, balance, fee FROM settlement_balancelistline "
        "WHERE balance_list_id = %s) l ON l.external_id = a.external_id "
        "WHERE a.subject_id IS NULL OR l.external_id IS NULL OR a.balance <> l.balance")


def balance_list_compare(list_id: int, plan_id: int) -> dict[str, int]:
    """Write the list's differences and return the summary (see the module docstring)."""
    differences = BalanceDifference._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {differences} (balance_list_id, kind, external_id, "  # noqa: S608
            "subject_id, accepted_balance, listed_balance, listed_fee) "
            f"SELECT %s, j.* FROM ({comparison_join_sql()}) j", [list_id, plan_id, list_id])
        cursor.execute(
            "SELECT COUNT(*), COALESCE(SUM(balance), 0), COALESCE(SUM(fee), 0) "
            "FROM settlement_balancelistline WHERE balance_list_id = %s", [list_id])
        lines, balance_sum, fee_sum = cursor.fetchone()
        cursor.execute(
            f"SELECT kind, COUNT(*), COALESCE(SUM(COALESCE(listed_balance, 0) "  # noqa: S608
            f"- COALESCE(accepted_balance, 0)), 0) FROM {differences} "
            "WHERE balance_list_id = %s GROUP BY kind", [list_id])
        found = {kind: (n, won) for kind, n, won in cursor.fetchall()}
    differing = found.get("differs", (0, 0))
    only_listed = found.get("only_listed", (0, 0))[0]
    return {"matching": int(lines) - differing[0] - only_listed, "differing": differing[0],
            "only_accepted": found.get("only_accepted", (0, 0))[0], "only_listed": only_listed,
            "difference_sum": int(differing[1]), "listed_lines": int(lines),
            "listed_balance_sum": int(balance_sum), "listed_fee_sum": int(fee_sum)}
