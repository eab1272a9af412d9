"""transfers.blocks: a record's stored line and the release line made from it."""

from __future__ import annotations

import zlib

import orjson
import pytest

from transfers.blocks import (
    FieldPick,
    block_encode,
    block_from_lines,
    block_lines,
    fragment_value_at,
    line_subject_id,
    release_line,
    release_record,
    stored_columns,
    stored_keys,
)

VALUES = {"user.name": "이용자 \"따옴표\"\n줄", "user.certificate_balance": 12000,
          "user.phone": "+821012345678", "user.issuance_records": [{"amount": 1, "at": "x"}]}


def _stored(subject_id=42, public_id="01HX-p42", external_id="U-42", values=VALUES) -> bytes:
    (line,) = block_lines(block_encode([(subject_id, public_id, external_id, values)]))
    return line


@pytest.mark.parametrize("kept", [set(), {"user.name"}, {"user.certificate_balance"},
                                  {"user.phone", "user.issuance_records"}, set(VALUES)])
def test_a_release_line_is_the_release_record_of_the_kept_fields(kept):
    columns = stored_columns(_stored())
    pick = FieldPick(stored_keys(columns[3]), frozenset(kept))
    line = release_line(columns, b"user", pick.fields(columns))
    assert pick.line(columns, b"user") == line
    assert orjson.loads(line) == release_record(
        public_id="01HX-p42", kind="user", external_id="U-42",
        fields={k: v for k, v in VALUES.items() if k in kept})
    assert pick.kept == tuple(k for k in VALUES if k in kept)


def test_the_balance_column_holds_its_whole_number():
    columns = stored_columns(_stored())
    keys = stored_keys(columns[3])
    pick = FieldPick(keys, frozenset({"user.certificate_balance"}))
    at = pick.column_of(keys, "user.certificate_balance")
    assert int(columns[at][fragment_value_at("user.certificate_balance"):]) == 12000
    assert FieldPick(keys, frozenset({"user.name"})).column_of(
        keys, "user.certificate_balance") is None


def test_a_line_tells_its_subject_id_without_splitting():
    assert line_subject_id(_stored(subject_id=907)) == 907


def test_a_record_without_fields_has_no_keys():
    columns = stored_columns(_stored(values={}))
    assert stored_keys(columns[3]) == []


def test_a_block_is_a_zstandard_frame_of_its_lines_and_reads_back():
    records = [(7, "p7", "U-7", VALUES), (9, "p9", "U-9", {"user.name": "둘"})]
    plaintext = block_encode(records)
    assert plaintext.startswith(b"\x28\xb5\x2f\xfd")  # Zstandard's magic number
    lines = block_lines(plaintext)
    assert [line_subject_id(line) for line in lines] == [7, 9]
    assert block_lines(block_from_lines(lines)) == lines


def test_a_block_stored_before_zstandard_still_reads():
    lines = block_lines(block_encode([(7, "p7", "U-7", VALUES), (9, "p9", "U-9", {})]))
    deflated = zlib.compress(b"\n".join(lines), 1)  # how blocks were stored until 2026-12
    assert block_lines(deflated) == lines
