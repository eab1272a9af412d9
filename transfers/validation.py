"""Checking the outgoing operator's rows before anything is stored.

Each row is a flat JSON object (or CSV line): ``kind``, ``external_id`` and the plan's field
keys (``merchant.shop_name``, ``user.phone``, ...). A row is accepted whole or rejected whole;
every problem of a rejected row is reported (line, field, code, message), never its values.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from governance.crypto import InvalidBRN, InvalidPhone, normalize_brn, normalize_mobile

# Fields every row of a kind must carry (when the plan has a rule for them): what the
# incoming operator cannot run payments without.
REQUIRED_FIELDS = {
    "merchant": ("merchant.business_registration_number", "merchant.shop_name",
                 "merchant.qr_merchant_id"),
    "user": ("user.phone", "user.certificate_balance"),
}
# The merchant-presented QR id (MPM) of the Seoul programme: "SQ" and 10 digits.
# Every pattern that checks digits spells them [0-9]: Python's \d also matches full-width and
# other Unicode digits, which would store a value no merchant's typing ever matches.
QR_MERCHANT_ID = re.compile(r"SQ[0-9]{10}")
QR_FIELD = "merchant.qr_merchant_id"
BALANCE_FIELD = "user.certificate_balance"
EXTERNAL_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
MAX_TEXT = 500
# Bounds on numbers, so that every sum stays exact in a signed 64-bit column and in every
# client. A balance or fee of one subject is at most 100 billion won: 92 million such records
# still sum below 2**63 (the whole Seoul programme held about 350 billion won in 2022).
MAX_WON = 100_000_000_000
# Other whole numbers: what a JSON number holds exactly in every client (JavaScript's
# Number.MAX_SAFE_INTEGER), far beyond any count an operator keeps.
MAX_INTEGER = 2**53 - 1
# How deeply a JSON value may nest: in a `json` field of a row and in an API request body.
# Real values (a settlement history, a list of accounts) nest two or three levels; parsers
# and encoders fail somewhere between 254 and 1,024 levels, so refuse long before that.
MAX_JSON_DEPTH = 32
# C0 control characters other than tab, newline and carriage return have no place in text.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The shapes operators send almost always; anything else goes through phonenumbers.
_PLAIN_MOBILE = re.compile(r"(?:\+82[ -]?|0)10[ -]?([0-9]{4})[ -]?([0-9]{4})")
# Which identity values of a row feed the subject's contact/identity index.
SUBJECT_PHONE_FIELD = {"merchant": "merchant.representative_phone", "user": "user.phone"}
SUBJECT_BRN_FIELD = {"merchant": "merchant.business_registration_number"}


@dataclass
class Problem:
    line: int
    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "code": self.code,
                "message": self.message}


@dataclass
class ValidRow:
    line: int
    kind: str
    external_id: str
    values: dict[str, Any]
    balance: int | None = None


@dataclass
class PlanSchema:
    """What the plan lets the source send: field key -> data type, per subject kind."""

    types: dict[str, dict[str, str]]
    required: dict[str, tuple[str, ...]] = field(default_factory=dict)


def mobile_e164(raw: str) -> str:
    match = _PLAIN_MOBILE.fullmatch(raw.strip())
    if match:
        return f"+8210{match.group(1)}{match.group(2)}"
    return normalize_mobile(raw)


# Each checker takes (field key, value) and answers (normalised value,) or (None, code,
# message). One per data type, picked by a dict: a row's fields are checked millions of times.
Checked = tuple[Any] | tuple[None, str, str]


def _check_phone(key: str, value: Any) -> Checked:
    if not isinstance(value, str):
        return None, "invalid_type", "a phone number must be a string"
    try:
        return (mobile_e164(value),)
    except InvalidPhone:
        return None, "invalid_phone", "not a Korean mobile number (010-XXXX-XXXX)"


def _check_brn(key: str, value: Any) -> Checked:
    if not isinstance(value, str):
        return None, "invalid_type", "a business registration number must be a string"
    try:
        return (normalize_brn(value),)
    except InvalidBRN as exc:
        return None, "invalid_brn", str(exc)


_WHOLE_NUMBER_TEXT = re.compile(r"-?[0-9]{1,18}")


def _whole_number(value: Any) -> int | None:
    """A JSON integer, or the ASCII digits of a CSV cell, as an int; otherwise None."""
    if isinstance(value, str) and _WHOLE_NUMBER_TEXT.fullmatch(value.strip()):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _out_of_range_float(value: Any, bound: int) -> bool:
    # JSON integers beyond 64 bits arrive from orjson as floats: still an amount too large.
    return isinstance(value, float) and not -bound <= value <= bound


def _check_integer(key: str, value: Any) -> Checked:
    number = _whole_number(value)
    if number is None:
        if _out_of_range_float(value, MAX_INTEGER):
            return None, "invalid_amount", f"a whole number is at most {MAX_INTEGER:,} in size"
        return None, "invalid_type", "must be a whole number"
    if abs(number) > MAX_INTEGER:
        return None, "invalid_amount", f"a whole number is at most {MAX_INTEGER:,} in size"
    return (number,)


def _check_money(key: str, value: Any) -> Checked:
    number = _whole_number(value)
    if number is None and not _out_of_range_float(value, MAX_WON):
        return None, "invalid_type", "an amount in won must be a whole number"
    if number is None or not 0 <= number <= MAX_WON:
        return None, "invalid_amount", f"an amount in won is between 0 and {MAX_WON:,}"
    return (number,)


def _check_date(key: str, value: Any) -> Checked:
    try:
        return (dt.date.fromisoformat(value).isoformat(),)
    except (TypeError, ValueError):
        return None, "invalid_date", "must be a date (YYYY-MM-DD)"


def _check_json(key: str, value: Any) -> Checked:
    if not isinstance(value, list | dict):
        return None, "invalid_type", "must be a JSON array or object"
    if json_depth(value) > MAX_JSON_DEPTH:
        return None, "too_deep", f"a JSON value nests at most {MAX_JSON_DEPTH} levels"
    if not _json_numbers_fit(value):
        return None, "invalid_amount", (f"numbers in a JSON value are at most {MAX_INTEGER:,} "
                                        "in size")
    return (value,)


def json_depth(value: Any) -> int:
    """How many arrays and objects deep ``value`` nests (a scalar is 0). Iterative, so a
    value nested thousands of levels deep is measured without exhausting the stack."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in children
                           if isinstance(child, dict | list))
    return deepest


def _check_text(key: str, value: Any) -> Checked:
    if not isinstance(value, str):
        return None, "invalid_type", "must be a string"
    value = value.strip()
    if len(value) > MAX_TEXT:
        return None, "too_long", f"at most {MAX_TEXT} characters"
    if _CONTROL_CHARACTERS.search(value):
        return None, "invalid_text", "must not hold control characters (NUL and the like)"
    if key == QR_FIELD and not QR_MERCHANT_ID.fullmatch(value):
        return None, "invalid_qr_id", "a QR merchant id is SQ followed by 10 digits"
    return (value,)


CHECKERS = {"phone": _check_phone, "brn": _check_brn, "integer": _check_integer,
            "money": _check_money, "date": _check_date, "json": _check_json,
            "text": _check_text}


def quoted_key(key: str) -> str:
    """An unknown key as the report may echo it: ASCII with escapes (no NUL reaches a jsonb
    column, no control character a terminal), at most 64 characters."""
    shown = ascii(key)[1:-1]
    return shown if len(shown) <= 64 else shown[:61] + "..."


def _json_numbers_fit(value: Any) -> bool:
    """Whether every number inside ``value`` is one the release encoder and every client
    hold exactly (orjson refuses integers beyond 64 bits when the release is written)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            if not -MAX_INTEGER <= item <= MAX_INTEGER:
                return False
    return True


def validate_row(line: int, row: Any, schema: PlanSchema
                 ) -> tuple[ValidRow | None, list[Problem]]:
    if not isinstance(row, dict):
        return None, [Problem(line, "", "not_an_object", "each line must be a JSON object")]
    kind = row.get("kind")
    if kind not in schema.types:
        return None, [Problem(line, "kind", "unknown_kind",
                              f"kind must be one of {sorted(schema.types)}")]
    external_id = row.get("external_id")
    if not isinstance(external_id, str) or not EXTERNAL_ID.fullmatch(external_id):
        return None, [Problem(line, "external_id", "invalid_external_id",
                              "external_id: 1-64 letters, digits or ._:-")]
    types = schema.types[kind]
    checkers = CHECKERS
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for key, value in row.items():
        if key in ("kind", "external_id"):
            continue
        data_type = types.get(key)
        if data_type is None:
            shown = quoted_key(key)
            problems.append(Problem(line, shown, "unknown_field",
                                    f"the plan has no {kind} field '{shown}'"))
            continue
        if value is None or value == "":
            continue  # absent
        checked = checkers.get(data_type, _check_text)(key, value)
        if len(checked) == 1:
            values[key] = checked[0]
        else:
            problems.append(Problem(line, key, checked[1], checked[2]))
    for key in schema.required.get(kind, ()):
        if key not in values and not any(p.field == key for p in problems):
            problems.append(Problem(line, key, "missing_field", "this field is required"))
    if problems:
        return None, problems
    return ValidRow(line, kind, external_id, values, values.get(BALANCE_FIELD)), []


def parse_ndjson(body: bytes) -> Iterator[tuple[int, Any, Problem | None]]:
    """(line number, object or None, problem or None) for each non-empty line."""
    for number, raw in enumerate(body.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            yield number, orjson.loads(raw), None
        except (ValueError, UnicodeDecodeError):  # orjson.JSONDecodeError is a ValueError
            yield number, None, Problem(number, "", "malformed_line", "not valid JSON")


def parse_csv(body: bytes, schema: PlanSchema) -> Iterator[tuple[int, Any, Problem | None]]:
    """CSV with a header line: kind, external_id and field keys. Empty cells are absent;
    JSON-typed cells hold JSON text. Line numbers count the header as line 1."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        yield 1, None, Problem(1, "", "malformed_line", "CSV must be UTF-8")
        return
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return
    json_keys = {k for types in schema.types.values() for k, t in types.items()
                 if t == "json"}
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield reader.line_num, None, Problem(reader.line_num, "", "malformed_line",
                                                 "not valid CSV")
            continue
        number = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            yield number, None, Problem(number, "", "malformed_line",
                                        f"{len(cells)} cells, the header has {len(header)}")
            continue
        row: dict[str, Any] = {}
        problem = None
        for name, cell in zip(header, cells, strict=True):
            if name in json_keys and cell:
                try:
                    # orjson, like the NDJSON parser: no NaN, no Infinity, a depth limit
                    # (the standard library's json recurses until the stack runs out).
                    row[name] = orjson.loads(cell)
                except ValueError:
                    problem = Problem(number, name, "invalid_type", "must be JSON text")
            else:
                row[name] = cell
        yield number, (None if problem else row), problem
