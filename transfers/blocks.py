"""Accepted records at rest: blocks of up to `BLOCK_RECORDS` records, one Fernet token each.

Why blocks: a Fernet token costs about 9 µs to make and 10 µs to open whatever its size,
which for one token per record was most of an upload's and a release's time at 2.3 million
records; a token of a thousand records costs about 1.6 µs per record. Each record still has
its own row (`transfers.models.Record`: subject, kind, balance, which block) for lookups and
uniqueness; only its values live in the block.

The plaintext of a block is zlib-deflated text, one line per record, in subject id order::

    <subject id> TAB <subject public id> TAB <external id> TAB <keys> TAB <fragment> TAB ...

``keys`` lists the record's field keys, comma-separated; each fragment is ``"key":<JSON
value>`` for the key in the same position. JSON text never holds a raw tab or newline, and
ids and keys are drawn from letters, digits and ``._:-``, so a release can keep some fields
of a record by picking fragments, without parsing or re-encoding any value: the kept
fragments joined by commas, in braces, are the JSON object of those fields.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import orjson

from governance.crypto import FRAGMENT_KEY, fragment_key_check

BLOCK_RECORDS = 1000

class BlockRecord(NamedTuple):
    """One record of a block, as stored: the values are still fragments (bytes)."""

    subject_id: int
    public_id: bytes  # ASCII, like the external id: letters, digits and ._:-
    external_id: bytes
    keys: bytes
    fragments: list[bytes]


def record_encode(subject_id: int, public_id: str, external_id: str,
                  values: dict[str, Any]) -> bytes:
    """One line of a block (without its newline). Values are JSON as orjson writes it (UTF-8,
    control characters escaped, so never a raw tab or newline)."""
    for key in values:
        fragment_key_check(key)
    if not FRAGMENT_KEY.fullmatch(external_id) or not FRAGMENT_KEY.fullmatch(public_id):
        raise ValueError("ids must be letters, digits or _.:-")
    parts = [b"%d" % subject_id, public_id.encode(), external_id.encode(),
             ",".join(values).encode()]
    dumps = orjson.dumps
    parts.extend(b'"' + key.encode() + b'":' + dumps(value) for key, value in values.items())
    return b"\t".join(parts)


def block_encode(records: Iterable[tuple[int, str, str, dict[str, Any]]]) -> bytes:
    """The plaintext of a block from (subject id, public id, external id, values), which the
    caller gives in subject id order, deflated (zlib, level 1) before it is encrypted: the
    field keys repeat on every line, so a block shrinks several times, and the token's
    encoding, MAC, cipher and the database's storage all cost per byte."""
    return zlib.compress(b"\n".join([record_encode(*r) for r in records]), 1)


def block_lines(plaintext: bytes) -> list[bytes]:
    """The records of a block, one line each (see the module docstring)."""
    return zlib.decompress(plaintext).split(b"\n")


def block_records(plaintext: bytes) -> Iterator[BlockRecord]:
    for line in block_lines(plaintext):
        subject_id, public_id, external_id, keys, *fragments = line.split(b"\t")
        yield BlockRecord(int(subject_id), public_id, external_id, keys, fragments)


def fragments_object(fragments: Iterable[bytes]) -> bytes:
    """The JSON object text of some fragments."""
    return b"{" + b",".join(fragments) + b"}"


def record_values(record: BlockRecord) -> dict[str, Any]:
    return orjson.loads(fragments_object(record.fragments))
