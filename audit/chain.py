"""The canonical form of an audit entry and its hash. Pure: no Django.

An entry is the JSON object

    {"action", "actor_id", "actor_type", "created_at", "details", "request_id", "seq",
     "target_id", "target_type"}

serialised with sorted keys, no whitespace (separators "," and ":"), non-ASCII characters
written as themselves, encoded as UTF-8. ``created_at`` is UTC in the fixed form
``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six fractional digits). ``seq`` is the entry's place in
the log (0, 1, 2, ...), so moving an entry changes its hash.

entry_hash = SHA-256(canonical bytes); the Merkle leaf is the 32-byte entry hash, so the leaf
hash is SHA-256(0x00 || entry_hash). The standalone bundle verifier implements the same rules.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
ENTRY_FIELDS = ("seq", "created_at", "actor_type", "actor_id", "action", "target_type",
                "target_id", "details", "request_id")

_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode


def format_timestamp(value: datetime) -> str:
    """UTC, always six fractional digits: 2026-11-24T06:12:01.000000Z."""
    offset = value.utcoffset()
    if offset is None:
        raise ValueError("audit timestamps must be timezone-aware")
    if offset:
        value = value.astimezone(UTC)
    # isoformat (C) is several times faster than strftime; same text as TIMESTAMP_FORMAT.
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def canonical_entry(
    *, seq: int, created_at: datetime | str, actor_type: str, actor_id: str, action: str,
    target_type: str, target_id: str, details: Any, request_id: str,
) -> bytes:
    if not isinstance(created_at, str):
        created_at = format_timestamp(created_at)
    return _dumps({
        "seq": seq, "created_at": created_at, "actor_type": actor_type, "actor_id": actor_id,
        "action": action, "target_type": target_type, "target_id": target_id,
        "details": details, "request_id": request_id,
    }).encode("utf-8")


_string = json.encoder.encode_basestring  # the encoder's own (C) string quoting


def _refuse(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not a JSON value")


if json.encoder.c_make_encoder is not None:
    # The C encoder built once: JSONEncoder.encode() builds a new one on every call, which is
    # half the cost of encoding a small dict. Same arguments as _dumps: sorted keys, compact,
    # no ASCII escaping, NaN refused (markers=None: rows from the database have no cycles).
    _c_encode = json.encoder.c_make_encoder(None, _refuse, _string, None, ":", ",", True,
                                            False, False)

    def _dumps_fast(value: Any) -> str:
        return "".join(_c_encode(value, 0))
else:  # pragma: no cover - interpreters without the C accelerator
    _dumps_fast = _dumps


def canonical_entry_fast(seq: int, created_at: str, actor_type: str, actor_id: str,
                         action: str, target_type: str, target_id: str, details: Any,
                         request_id: str) -> bytes:
    """Byte-for-byte `canonical_entry`, with the keys already in sorted order (verification).

    The nine fixed keys are written in their sorted order by hand; only ``details`` goes
    through the sorting encoder. tests/audit/test_chain.py holds the two to each other.
    """
    return (f'{{"action":{_string(action)},"actor_id":{_string(actor_id)},'
            f'"actor_type":{_string(actor_type)},"created_at":{_string(created_at)},'
            f'"details":{_dumps_fast(details)},"request_id":{_string(request_id)},"seq":{seq:d},'
            f'"target_id":{_string(target_id)},"target_type":{_string(target_type)}}}'
            ).encode()


def entry_hash(canonical: bytes) -> bytes:
    return hashlib.sha256(canonical).digest()
