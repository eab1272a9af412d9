"""Every byte format of a record: the stored block line, and the release line made from it.

A newcomer adding a field to a record or a line format to a release reads this module only.

**Stored.** Accepted records at rest: blocks of up to `BLOCK_RECORDS` records, one Fernet
token each.

Why blocks: a Fernet token costs about 9 µs to make and 10 µs to open whatever its size,
which for one token per record was most of an upload's and a release's time at 2.3 million
records; a token of a thousand records costs about 1.6 µs per record. Each record still has
its own row (`transfers.models.Record`: subject, kind, balance, which block) for lookups and
uniqueness; only its values live in the block.

The plaintext of a block is a Zstandard frame (level 1) of text, one line per record, in
subject id order (`block_lines` still reads the zlib streams blocks were deflated into
before; a frame starts with Zstandard's magic number, a zlib stream never does)::

    <subject id> TAB <subject public id> TAB <external id> TAB <keys> TAB <fragment> TAB ...

``keys`` lists the record's field keys, comma-separated; each fragment is ``"key":<JSON
value>`` for the key in the same position. JSON text never holds a raw tab or newline, and
ids and keys are drawn from letters, digits and ``._:-``, so a release can keep some fields
of a record by picking fragments, without parsing or re-encoding any value: the kept
fragments joined by commas, in braces, are the JSON object of those fields.

**Released.** A release line (docs/release-format.md) is one JSON object per record,
``{"subject":…,"kind":…,"external_id":…,"fields":{…}}``, written by `release_line` from the
split stored line (`stored_columns`) and the fragments a `FieldPick` keeps; `release_record`
is the same object as a dict, for the few records answered over the API in the clear.
tests/transfers/test_blocks.py holds the two to each other and to the stored values.
"""

from __future__ import annotations

import operator
import zlib
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import orjson
import zstandard

from governance.crypto import FRAGMENT_KEY, fragment_key_check

BLOCK_RECORDS = 1000
# Columns of a stored line split at its tabs (`stored_columns`); fragments follow the keys.
SUBJECT_ID, PUBLIC_ID, EXTERNAL_ID, KEYS, FIRST_FRAGMENT = 0, 1, 2, 3, 4

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
    caller gives in subject id order (`block_from_lines`)."""
    return block_from_lines([record_encode(*r) for r in records])


def block_from_lines(lines: list[bytes]) -> bytes:
    """The plaintext of a block of stored lines (in subject id order), compressed before it
    is encrypted: the field keys repeat on every line, so a block shrinks many times, and the
    token's encoding, MAC, cipher and the database's storage all cost per byte. Zstandard at
    level 1, not zlib: at a thousand records it measured a third of zlib's size and a
    quarter of its time to inflate, the step a release takes for every block."""
    return zstandard.compress(b"\n".join(lines), 1)


_ZSTANDARD_MAGIC = b"\x28\xb5\x2f\xfd"


def block_lines(plaintext: bytes) -> list[bytes]:
    """The records of a block, one line each (see the module docstring)."""
    if plaintext[:4] == _ZSTANDARD_MAGIC:
        return zstandard.decompress(plaintext).split(b"\n")
    return zlib.decompress(plaintext).split(b"\n")  # a block stored before Zstandard


def block_records(plaintext: bytes) -> Iterator[BlockRecord]:
    for line in block_lines(plaintext):
        subject_id, public_id, external_id, keys, *fragments = line.split(b"\t")
        yield BlockRecord(int(subject_id), public_id, external_id, keys, fragments)


def fragments_object(fragments: Iterable[bytes]) -> bytes:
    """The JSON object text of some fragments."""
    return b"{" + b",".join(fragments) + b"}"


def record_values(record: BlockRecord) -> dict[str, Any]:
    return orjson.loads(fragments_object(record.fragments))


COLUMN_SEPARATOR = b"\t"


def stored_columns(line: bytes) -> list[bytes]:
    """A stored line's columns: subject id, public id, external id, keys, then one fragment
    per key (index with `SUBJECT_ID` … `FIRST_FRAGMENT`)."""
    return line.split(COLUMN_SEPARATOR)


def line_subject_id(line: bytes) -> int:
    """The subject id of a stored line, without splitting the rest."""
    return int(line[:line.index(b"\t")])


def stored_keys(keys_column: bytes) -> list[str]:
    """The field keys of a stored line's `KEYS` column, in stored order."""
    return keys_column.decode().split(",") if keys_column else []


class FieldPick:
    """Which fragments of a stored line with ``keys`` a release keeps: those in ``kept``, in
    stored order. Worked out once per set of stored keys; then ``fragments(columns)`` (an
    `operator.itemgetter`, so it picks in C) returns the kept fragments, which joined by
    commas are the body of the line's ``fields`` object: no value is parsed or re-encoded.
    `fields` and `line` spell that out; the export's inner loop does the same inline
    (transfers.services.release_lines), a function call per line being a tenth of its time."""

    __slots__ = ("kept", "fragments")

    def __init__(self, keys: list[str], kept: frozenset[str]) -> None:
        self.kept = tuple(k for k in keys if k in kept)
        indexes = [FIRST_FRAGMENT + i for i, k in enumerate(keys) if k in kept]
        if len(indexes) == len(keys):
            self.fragments = operator.itemgetter(slice(FIRST_FRAGMENT, None))
        elif len(indexes) > 1:
            self.fragments = operator.itemgetter(*indexes)
        else:
            # With one index itemgetter would return the item itself, not a sequence: a
            # one-item slice instead (and an empty slice for none).
            self.fragments = operator.itemgetter(
                slice(indexes[0], indexes[0] + 1) if indexes else slice(0, 0))

    def fields(self, columns: list[bytes]) -> bytes:
        """The body of the ``fields`` object: the kept fragments joined by commas."""
        return b",".join(self.fragments(columns))

    def line(self, columns: list[bytes], kind: bytes) -> bytes:
        """The release line of a stored line's columns, with the kept fields."""
        return release_line(columns, kind, self.fields(columns))

    def column_of(self, keys: list[str], key: str) -> int | None:
        """The column of ``key``'s fragment in a line with ``keys``, if this pick keeps it."""
        return FIRST_FRAGMENT + keys.index(key) if key in self.kept else None


def fragment_value_at(key: str) -> int:
    """Where the value starts in ``key``'s fragment (``"key":<value>``): a whole number's
    fragment ``f`` holds ``int(f[fragment_value_at(key):])``."""
    return len(key) + 3


# A release line: public id, kind, external id, the body of the fields object. The ids are
# letters, digits and ._:- (checked when stored), so they need no escaping.
RELEASE_LINE = b'{"subject":"%s","kind":"%s","external_id":"%s","fields":{%s}}'


def release_line(columns: list[bytes], kind: bytes, fields: bytes) -> bytes:
    """One release line from a stored line's columns and the kept fragments (`FieldPick`)."""
    return RELEASE_LINE % (columns[PUBLIC_ID], kind, columns[EXTERNAL_ID], fields)


def release_record(*, public_id: str, kind: str, external_id: str,
                   fields: dict[str, Any]) -> dict[str, Any]:
    """The object a release line holds, as a dict (the same keys as `release_line`)."""
    return {"subject": public_id, "kind": kind, "external_id": external_id, "fields": fields}
