"""The canonical form of an entry, as documented in docs/audit.md."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from audit.chain import canonical_entry, canonical_entry_fast, format_timestamp

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=8)


def test_the_canonical_form_is_sorted_compact_utf8_with_a_fixed_utc_timestamp():
    seoul = timezone(timedelta(hours=9))
    canonical = canonical_entry(
        seq=7, created_at=datetime(2026, 11, 24, 15, 0, 0, tzinfo=seoul), actor_type="officer",
        actor_id="user:1", action="plan.approved", target_type="transfer_plan", target_id="3",
        details={"z": 1, "a": ["검토", True]}, request_id="r-1")
    assert canonical == (
        '{"action":"plan.approved","actor_id":"user:1","actor_type":"officer",'
        '"created_at":"2026-11-24T06:00:00.000000Z","details":{"a":["검토",true],"z":1},'
        '"request_id":"r-1","seq":7,"target_id":"3","target_type":"transfer_plan"}'
    ).encode()


@settings(max_examples=200, deadline=None)
@given(seq=st.integers(0, 10**12), text=st.text(max_size=20), details=json_values,
       micros=st.integers(0, 10**15))
def test_the_fast_encoder_used_by_verification_is_byte_identical(seq, text, details, micros):
    when = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    fields = {"seq": seq, "actor_type": "system", "actor_id": text, "action": text + ".x",
              "target_type": "t\u2028", "target_id": text[::-1], "details": details,
              "request_id": text[:5]}
    assert canonical_entry(created_at=when, **fields) == canonical_entry_fast(
        created_at=format_timestamp(when), **fields)
