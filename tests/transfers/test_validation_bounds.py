"""Row validation refuses numbers beyond their bounds, non-ASCII digits, deep JSON and
control characters: each a rejected row with a stable code, never a stored value."""

from __future__ import annotations

import pytest

from transfers.validation import (
    MAX_INTEGER,
    MAX_JSON_DEPTH,
    MAX_WON,
    PlanSchema,
    parse_csv,
    validate_row,
)

SCHEMA = PlanSchema(types={
    "user": {"user.phone": "phone", "user.certificate_balance": "money",
             "user.visits": "integer", "user.history": "json", "user.name": "text"},
    "merchant": {"merchant.business_registration_number": "brn",
                 "merchant.qr_merchant_id": "text"},
})


def _codes(row: dict) -> set[tuple[str, str]]:
    valid, problems = validate_row(1, row, SCHEMA)
    assert valid is None
    return {(p.field, p.code) for p in problems}


def _user(**values) -> dict:
    return {"kind": "user", "external_id": "U-1", "user.phone": "010-1234-5678", **values}


@pytest.mark.parametrize("balance", [2**63 - 1, 2**63, 2**64, MAX_WON + 1, float(2**70), -1])
def test_a_balance_beyond_its_bound_is_an_invalid_amount(balance):
    assert _codes(_user(**{"user.certificate_balance": balance})) == {
        ("user.certificate_balance", "invalid_amount")}


def test_the_largest_balance_allowed_is_accepted():
    valid, problems = validate_row(1, _user(**{"user.certificate_balance": MAX_WON}), SCHEMA)
    assert problems == [] and valid.balance == MAX_WON


@pytest.mark.parametrize("visits", [MAX_INTEGER + 1, -(MAX_INTEGER + 1), 2**63])
def test_a_whole_number_beyond_its_bound_is_an_invalid_amount(visits):
    assert _codes(_user(**{"user.visits": visits})) == {("user.visits", "invalid_amount")}


def test_a_huge_number_inside_a_json_value_is_an_invalid_amount():
    assert _codes(_user(**{"user.history": [{"amount": 2**64}]})) == {
        ("user.history", "invalid_amount")}


@pytest.mark.parametrize("phone", [
    "010-１２３４-５６７８", "０１０-1234-5678", "010-1234-567\u0668"])
def test_a_phone_with_non_ascii_digits_is_refused(phone):
    assert _codes(_user(**{"user.phone": phone})) == {("user.phone", "invalid_phone")}


def test_a_business_number_in_full_width_digits_is_refused():
    from governance.seoul import synthetic_brn

    ascii_brn = synthetic_brn(7)
    full_width = ascii_brn.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    row = {"kind": "merchant", "external_id": "M-1",
           "merchant.business_registration_number": full_width}
    assert ("merchant.business_registration_number", "invalid_brn") in _codes(row)


def test_a_qr_id_with_full_width_digits_is_refused():
    row = {"kind": "merchant", "external_id": "M-1",
           "merchant.qr_merchant_id": "SQ０１２３４５６７８９"}
    assert ("merchant.qr_merchant_id", "invalid_qr_id") in _codes(row)


def test_a_whole_number_in_full_width_digits_is_refused():
    assert _codes(_user(**{"user.visits": "１２"})) == {("user.visits", "invalid_type")}


def test_a_json_value_nested_too_deep_is_refused():
    deep: list = []
    for _ in range(500):
        deep = [deep]
    assert _codes(_user(**{"user.history": deep})) == {("user.history", "too_deep")}


def test_a_json_value_at_the_depth_limit_is_accepted():
    value: list = []
    for _ in range(MAX_JSON_DEPTH - 1):
        value = [value]
    valid, problems = validate_row(1, _user(**{"user.history": value}), SCHEMA)
    assert problems == [], problems


@pytest.mark.parametrize("text", ["a\x00b", "\x1b[31mred", "bell\x07"])
def test_text_with_control_characters_is_refused(text):
    assert _codes(_user(**{"user.name": text})) == {("user.name", "invalid_text")}


def test_an_unknown_field_name_is_echoed_with_escapes_only():
    problems = validate_row(1, _user(**{"nul\x00name" + "x" * 100: 1}), SCHEMA)[1]
    (problem,) = problems
    assert problem.code == "unknown_field"
    assert "\x00" not in problem.field and "\x00" not in problem.message
    assert problem.field.startswith("nul\\x00name") and len(problem.field) <= 64


def test_a_csv_json_cell_with_nan_or_deep_nesting_is_a_rejected_line():
    body = ("kind,external_id,user.phone,user.history\n"
            "user,U-1,010-1234-5678,NaN\n"
            f"user,U-2,010-1234-5679,{'[' * 5000}{']' * 5000}\n").encode()
    lines = list(parse_csv(body, SCHEMA))
    assert [(line, obj, p.code if p else None) for line, obj, p in lines] == [
        (2, None, "invalid_type"), (3, None, "invalid_type")]
