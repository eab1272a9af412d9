"""Re-encrypt every encrypted value under the first key of FIELD_ENCRYPTION_KEYS."""

from __future__ import annotations

from collections.abc import Callable

from django.apps import apps
from django.db import connection, transaction

from governance.crypto import encrypted_fields, rotate_token
from governance.services.common import Actor, record


def _encrypted_tables() -> list[tuple[type, str, str, list[str]]]:
    tables = []
    for model in apps.get_models():
        fields = encrypted_fields(model)
        if fields and not model._meta.proxy and model._meta.managed:
            tables.append((model, model._meta.db_table, model._meta.pk.column,
                           [f.column for f in fields]))
    return tables


def encrypted_values_count() -> int:
    """How many rows hold at least one encrypted value (for a progress bar)."""
    total = 0
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        for _model, table, _pk, columns in _encrypted_tables():
            where = " OR ".join(f"({qn(c)} IS NOT NULL AND {qn(c)} <> '')" for c in columns)
            cursor.execute(f"SELECT COUNT(*) FROM {qn(table)} WHERE {where}")  # noqa: S608
            total += cursor.fetchone()[0]
    return total


def encrypted_values_rotate(*, by: Actor, batch_size: int = 1000,
                            on_progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Re-encrypt every stored token, table by table, one locked batch per transaction.

    Afterwards every value opens with the first key alone, so older keys can be removed from
    FIELD_ENCRYPTION_KEYS. A value no configured key opens raises DecryptionError and leaves
    the batch it was in untouched. Returns rows rewritten per table; one audit event.
    """
    qn = connection.ops.quote_name
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    rewritten: dict[str, int] = {}
    for _model, table, pk, columns in _encrypted_tables():
        cols = ", ".join(qn(c) for c in columns)
        select = (f"SELECT {qn(pk)}, {cols} FROM {qn(table)} WHERE {qn(pk)} > %s "  # noqa: S608
                  f"ORDER BY {qn(pk)} LIMIT %s{lock}")
        update = (f"UPDATE {qn(table)} SET "  # noqa: S608
                  + ", ".join(f"{qn(c)} = %s" for c in columns) + f" WHERE {qn(pk)} = %s")
        last, count = None, 0
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(select, [last if last is not None else -1, batch_size])
                rows = cursor.fetchall()
                if not rows:
                    break
                params = []
                for row in rows:
                    values = [rotate_token(v) if v else v for v in row[1:]]
                    if any(row[1:]):
                        params.append([*values, row[0]])
                if params:
                    cursor.executemany(update, params)
            last = rows[-1][0]
            count += len(params)
            if on_progress:
                on_progress(len(params))
        rewritten[table] = count
    with transaction.atomic():
        record(by, "encryption.rotated", _Target(), {"rows": rewritten},
               target_type="governance.encryption")
    return rewritten


class _Target:
    pk = "field-encryption-keys"
