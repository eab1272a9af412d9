"""Re-encrypt every encrypted value under the first key of FIELD_ENCRYPTION_KEYS."""

from __future__ import annotations

from collections.abc import Callable

from django.apps import apps
from django.db import transaction

from audit.services import audit_event
from governance.bulk import EncryptedTable, encrypted_rows_count, encrypted_rows_rotate
from governance.crypto import encrypted_fields, rotate_token
from governance.services.common import Actor, acting


def _encrypted_tables() -> list[EncryptedTable]:
    """Every installed, managed table with an encrypted column, whichever app owns it."""
    tables = []
    for model in apps.get_models():
        fields = encrypted_fields(model)
        if fields and not model._meta.proxy and model._meta.managed:
            tables.append(EncryptedTable(model._meta.db_table, model._meta.pk.column,
                                         tuple(f.column for f in fields)))
    return tables


def encrypted_values_count() -> int:
    """How many rows hold at least one encrypted value (for a progress bar)."""
    return encrypted_rows_count(_encrypted_tables())


def encrypted_values_rotate(*, by: Actor, batch_size: int = 1000,
                            on_progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Re-encrypt every stored token, table by table, one locked batch per transaction.

    Afterwards every value opens with the first key alone, so older keys can be removed from
    FIELD_ENCRYPTION_KEYS. A value no configured key opens raises DecryptionError and leaves
    the batch it was in untouched. Returns rows rewritten per table; one audit event.
    """
    rewritten = {table.table: encrypted_rows_rotate(table, rewrite=rotate_token,
                                                    batch_size=batch_size,
                                                    on_progress=on_progress)
                 for table in _encrypted_tables()}
    with transaction.atomic():
        audit_event(by=acting(by), action="encryption.rotated",
                    target=("governance.encryption", "field-encryption-keys"),
                    details={"rows": rewritten})
    return rewritten
