"""What several governance models share: the subjects' pseudonymous ids and the equality index."""

from __future__ import annotations

import secrets
import time

from django.db import models


def new_public_id() -> str:
    """A pseudonymous id for audit events, URLs and releases (never derived from the subject):
    24 hex digits, the creation time in milliseconds then 48 random bits, like a UUIDv7.

    Why time first: a bulk upload creates two million of them, and random keys scatter the
    inserts over a unique index far larger than memory (measured: a third of the cost of
    writing a subject at that size); ids that grow with time are appended at its end. It
    tells no more than when the broker first saw the subject; it is not a secret (consent
    links carry their own tokens)."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(6)}"


class EqualityIndex(models.Index):
    """An index for equality lookups only: a hash index on PostgreSQL, a B-tree elsewhere.

    For keyed hashes (blind indexes) of millions of subjects: a B-tree of random 64-digit keys
    is several times larger than memory and each insert lands on a random page (measured:
    half the cost of writing a subject at 2.3 million); a hash index stores 4-byte hash codes.
    Give it a condition that leaves out the empty value: a hash index puts equal keys in one
    bucket chain, which every insert of that key walks."""

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor == "postgresql":
            using = " USING hash"
        return super().create_sql(model, schema_editor, using=using, **kwargs)
