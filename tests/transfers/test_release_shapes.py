"""How a release keeps the allowed fields of a stored record line (transfers.blocks), for any
number of allowed fields."""

from __future__ import annotations

import json

import pytest

from governance.policy import Reason, decision_for
from transfers.blocks import block_encode, block_lines
from transfers.services.release_lines import Shape

VALUES = {"user.phone": "+821000000001", "user.name": "이용자\t1",
          "user.certificate_balance": 5000, "user.issuance_records": [{"amount": 1}]}


@pytest.mark.parametrize("allowed", [
    set(), {"user.name"}, {"user.certificate_balance"}, {"user.phone", "user.issuance_records"},
    set(VALUES)])
def test_a_shape_picks_exactly_the_allowed_fields_in_stored_order(allowed):
    decided = {k: decision_for(Reason.ALLOWED_ENTRUSTMENT_RETURN if k in allowed
                               else Reason.DENIED_CONSENT_PENDING) for k in VALUES}
    (line,) = block_lines(block_encode([(7, "p7", "U-7", VALUES)]))
    parts = line.split(b"\t")
    shape = Shape("user", decided, parts[3].decode().split(","))
    fields = json.loads(b"{" + shape.pick.fields(parts) + b"}")
    assert fields == {k: v for k, v in VALUES.items() if k in allowed}
    assert list(fields) == [k for k in VALUES if k in allowed]
    assert shape.pick.fields(parts) == b",".join(shape.fragments(parts))
    if "user.certificate_balance" in allowed:
        assert parts[shape.balance] == b'"user.certificate_balance":5000'
    else:
        assert shape.balance is None
