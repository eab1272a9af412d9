"""Checking the outgoing operator's rows before anything is stored.

Each row is a flat JSON object (or CSV line): ``kind``, ``external_id`` and the plan's field
keys (``merchant.shop_name``, ``user.phone``, ...). A row is accepted whole or rejected whole;
every problem of a rejected row is reported (line, field, code, message), never its values.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
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
QR_MERCHANT_ID = re.compile(r"SQ\d{10}")
QR_FIELD = "merchant.qr_merchant_id"
BALANCE_FIELD = "user.certificate_balance"
EXTERNAL_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
MAX_TEXT = 500
# The shapes operators send almost always; anything else goes through phonenumbers.
_PLAIN_MOBILE = re.compile(r"(?:\+82[ -]?|0)10[ -]?(\d{4})[ -]?(\d{4})")
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


def _check_integer(key: str, value: Any) -> Checked:
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None, "invalid_type", "must be a whole number"
    return (value,)


def _check_money(key: str, value: Any) -> Checked:
    checked = _check_integer(key, value)
    if len(checked) == 1 and checked[0] < 0:
        return None, "invalid_amount", "an amount in won must not be negative"
    return checked


def _check_date(key: str, value: Any) -> Checked:
    try:
        return (dt.date.fromisoformat(value).isoformat(),)
    except (TypeError, ValueError):
        return None, "invalid_date", "must be a date (YYYY-MM-DD)"


def _check_json(key: str, value: Any) -> Checked:
    if not isinstance(value, list | dict):
        return None, "invalid_type", "must be a JSON array or object"
    return (value,)


def _check_text(key: str, value: Any) -> Checked:
    if not isinstance(value, str):
        return None, "invalid_type", "must be a string"
    value = value.strip()
    if len(value) > MAX_TEXT:
        return None, "too_long", f"at most {MAX_TEXT} characters"
    if key == QR_FIELD and not QR_MERCHANT_ID.fullmatch(value):
        return None, "invalid_qr_id", "a QR merchant id is SQ followed by 10 digits"
    return (value,)


CHECKERS = {"phone": _check_phone, "brn": _check_brn, "integer": _check_integer,
            "money": _check_money, "date": _check_date, "json": _check_json,
            "text": _check_text}


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
            problems.append(Problem(line, key, "unknown_field",
                                    f"the plan has no {kind} field '{key}'"))
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
                    row[name] = json.loads(cell)
                except ValueError:
                    problem = Problem(number, name, "invalid_type", "must be JSON text")
            else:
                row[name] = cell
        yield number, (None if problem else row), problem
