"""The bad-input corpus of issue 13: hostile requests to every operator API endpoint.

Each case is one request. Unless it says otherwise, it is sent with the token of the operator
the endpoint belongs to (the source for uploads, the recipient for releases and deletions),
to the real plan, upload, release and deletion request of `conftest.World`, with only the
hostile part changed. What every case must get back (tests/hostile/test_corpus.py):

- a 4xx the OpenAPI schema documents for that operation (404 for a URL that matches no
  operation), as JSON ``{"error": code, "detail": message}``, and nothing stored; or, for the
  cases that name rejected rows, a batch report (201) rejecting exactly those rows, with
  nothing stored but the batch's own report;
- no audit event of the request holding anything shaped like a phone, business or resident
  registration number or an e-mail address.

`KNOWN_FAILURES` (at the end) names the cases that fail today and why; each is a strict
xfail, to be removed when the case passes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from governance.seoul import synthetic_brn
from transfers import synthetic

ON_POSTGRES = bool(getattr(settings, "IS_POSTGRES", False))

# The operations, as the schema names them (method, path template).
SERVICE_KEY = ("GET", "/api/service-key")
PLANS = ("GET", "/api/plans")
PLAN = ("GET", "/api/plans/{plan_id}")
UPLOAD_CREATE = ("POST", "/api/plans/{plan_id}/uploads")
RELEASES = ("GET", "/api/plans/{plan_id}/releases")
RELEASE_REQUEST = ("POST", "/api/plans/{plan_id}/releases")
DELETIONS = ("GET", "/api/plans/{plan_id}/deletions")
UPLOAD = ("GET", "/api/uploads/{upload_id}")
UPLOAD_COMPLETE = ("POST", "/api/uploads/{upload_id}/complete")
BATCH_PUT = ("PUT", "/api/uploads/{upload_id}/batches/{batch_id}")
BATCH_GET = ("GET", "/api/uploads/{upload_id}/batches/{batch_id}")
RELEASE = ("GET", "/api/releases/{release_id}")
RELEASE_RECORDS = ("GET", "/api/releases/{release_id}/records")
RELEASE_MANIFEST = ("GET", "/api/releases/{release_id}/manifest.json")
RELEASE_SIGNATURE = ("GET", "/api/releases/{release_id}/manifest.sig")
RELEASE_CHUNK = ("GET", "/api/releases/{release_id}/chunks/{n}")
ACKNOWLEDGE = ("POST", "/api/releases/{release_id}/acknowledgements")
DELETION_CONFIRM = ("POST", "/api/deletions/{notice_id}/confirm")

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
NDJSON = "application/x-ndjson"
JSON = "application/json"
HOSTILE_BATCH_ID = "hostile-1"  # a batch id not used yet on the open upload


@dataclass(frozen=True)
class Rejected:
    """A row the batch report must reject: its line, and the field and codes if known."""

    line: int
    field: str | None = None
    codes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Case:
    id: str
    op: tuple[str, str] | None  # None: a URL that must match no operation
    method: str = ""  # defaults to the operation's
    params: dict[str, str] = field(default_factory=dict)  # raw, already percent-encoded
    path: str = ""  # for op None: the raw path, {plan} etc. filled from the world
    query: str = ""
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    environ: dict[str, str] = field(default_factory=dict)  # raw WSGI overrides
    who: str = ""  # source, recipient, unrelated or anonymous; default: by the scope it needs
    status: frozenset[int] | None = None  # default: every documented 4xx but 401 and 403
    error: str | None = None  # the error code, where the issue names it
    rejected: tuple[Rejected, ...] = ()  # a batch report is expected, rejecting these rows
    or_refused: bool = False  # with `rejected`: a documented 4xx for the whole batch is fine
    # Extra checks, called as after(world, send, response, audit events of the request).
    after: Callable[..., None] | None = None
    # An acknowledgement payload, signed(world) -> bytes, signed with the recipient's key.
    signed: Callable[[Any], bytes] | None = None
    xfail: str | None = None
    xfail_on: str = "both"  # both, sqlite or postgres

    def owner(self, schema: dict) -> str:
        """Who sends it: ``who``, or the operator the operation's scope belongs to."""
        if self.who or self.op is None:
            return self.who or "source"
        operation = schema["paths"][self.op[1]][self.op[0].lower()]
        scopes = {s for item in operation.get("security", []) for s in item.get(
            "operatorOAuth2", [])}
        return "recipient" if any(s.startswith("release:") for s in scopes) else "source"

    def xfails_here(self) -> bool:
        return bool(self.xfail) and (self.xfail_on == "both" or
                                     (self.xfail_on == "postgres") == ON_POSTGRES)


# --- Values ---------------------------------------------------------------------------------

# Identifiers shaped like personal numbers (issue 13 item 2): a phone, with and without
# separators, a business registration number and a resident registration number.
PERSONAL_SHAPED = {"phone": "010-1234-5678", "phone-digits": "01012345678",
                   "brn": "123-45-67890", "rrn": "900101-1234567"}
PLAN_IDS = {**PERSONAL_SHAPED, "nul": "%00", "digit-nul": "1%00", "huge": "9" * 20,
            "negative": "-1", "fullwidth": "%EF%BC%91", "float": "1.0", "exponent": "1e3",
            "space": "%201"}
UUID_IDS = {**PERSONAL_SHAPED, "36-zeros": "0" * 36, "nul": "%00", "nil-uuid":
            "00000000-0000-0000-0000-000000000000", "37-chars": "a" * 37}
BATCH_IDS = {**PERSONAL_SHAPED, "nul": "%00", "trailing-nul": "b%00", "newline": "b%0Ax",
             "del": "b%7F", "65-chars": "b" * 65, "5000-chars": "b" * 5000, "slash": "a%2Fb",
             "rtl-override": "b%E2%80%AEx", "invalid-utf8": "b%FFx"}
NOTICE_IDS = {**PERSONAL_SHAPED, "nul": "%00", "huge": "9" * 20, "negative": "-1"}
CHUNK_NUMBERS = {**PLAN_IDS, "zero": "0", "past-the-last": "999999", "seven-digits": "1000000",
                 "dot-dot": "..%2Fmanifest.json", "empty": ""}

REQUEST_IDS = {"phone": "010-9999-8888", "phone-digits": "01099998888",
               "brn": "123-45-67890", "rrn": "900101-1234567"}


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def nested_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) - ord("0") + 0xFF10) if c.isdigit() else c for c in text)


def arabic_indic(text: str) -> str:
    return "".join(chr(ord(c) - ord("0") + 0x0660) if c.isdigit() else c for c in text)


def row_user(**values: Any) -> dict[str, Any]:
    return synthetic.user_row(700) | values


def row_merchant(**values: Any) -> dict[str, Any]:
    return synthetic.merchant_row(700) | values


def line(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode() + b"\n"


def good_batch() -> bytes:
    return line(synthetic.user_row(800))


# --- Builders, one per endpoint family -------------------------------------------------------

def _name(op: tuple[str, str]) -> str:
    return op[0].lower() + " " + op[1].removeprefix("/api/")


def _id_cases(op: tuple[str, str], param: str, values: dict[str, str], **kw) -> Iterator[Case]:
    for key, value in values.items():
        yield Case(f"{_name(op)} {param}={key}", op, params={param: value}, **kw)


# Hostile values per path parameter; a parameter not named here gets the values of its type.
VALUES_BY_PARAMETER = {"plan_id": PLAN_IDS, "notice_id": NOTICE_IDS, "upload_id": UUID_IDS,
                       "release_id": UUID_IDS, "batch_id": BATCH_IDS, "n": CHUNK_NUMBERS}
# A well-formed id of nothing, per parameter type: the request is a plain 404.
NOTHING = {"integer": "999999", "uuid": "00000000-0000-0000-0000-000000000000",
           "string": "nothing-here"}


def operations(schema: dict) -> Iterator[tuple[tuple[str, str], dict]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield (method.upper(), path), operation


def path_parameters(operation: dict) -> dict[str, dict]:
    return {p["name"]: p.get("schema", {}) for p in operation.get("parameters", [])
            if p.get("in") == "path"}


def _parameter_kind(name: str, parameter: dict) -> str:
    """integer, uuid or string: by the name of a known parameter, else by its schema (a
    bounded id may be a string with a digits-only pattern)."""
    pattern = parameter.get("pattern", "")
    if name in ("plan_id", "notice_id") or parameter.get("type") == "integer" or (
            pattern and set(pattern) <= set("^$[0-9]{},")):
        return "integer"
    if name in ("upload_id", "release_id") or parameter.get("format") == "uuid" or (
            "[0-9a-f]{8}-" in pattern):
        return "uuid"
    return "string"


def ordinary_body(op: tuple[str, str], operation: dict) -> dict[str, Any]:
    """A body the operation takes, so that only the hostile part of a request is wrong."""
    content = operation.get("requestBody", {}).get("content", {})
    if op == BATCH_PUT or NDJSON in content:
        return {"body": good_batch(), "content_type": NDJSON}
    if JSON in content:
        return {"body": b"{}", "content_type": JSON}
    return {}


def path_parameter_cases(schema: dict) -> Iterator[Case]:
    """Every path parameter of every operation of the live schema, shaped like personal
    numbers and worse; and a request id shaped like one on a request for nothing."""
    by_type = {"integer": PLAN_IDS, "uuid": UUID_IDS, "string": BATCH_IDS}
    for op, operation in operations(schema):
        parameters = path_parameters(operation)
        body = ordinary_body(op, operation)
        for name, parameter in parameters.items():
            values = VALUES_BY_PARAMETER.get(name, by_type[_parameter_kind(name, parameter)])
            yield from _id_cases(op, name, values, **body)
        if parameters:
            # An object's id (not a batch id or file name, which a PUT would create).
            name, parameter = min(parameters.items(),
                                  key=lambda item: _parameter_kind(*item) == "string")
            for key, request_id in REQUEST_IDS.items():
                yield Case(f"{_name(op)} x-request-id={key}", op,
                           params={name: NOTHING[_parameter_kind(name, parameter)]},
                           headers={"X-Request-ID": request_id},
                           after=_request_id_replaced(request_id), **body)


def query_cases() -> Iterator[Case]:
    for value in ("abc", "0", "1001", "-1", "9" * 20, "%00", "1.5"):
        yield Case(f"get releases/records limit={value[:8]}", RELEASE_RECORDS,
                   query=f"limit={value}", status=frozenset({400}), error="invalid_limit")
    for value in ("abc", "%00", "1.5", "0x10"):
        yield Case(f"get releases/records cursor={value}", RELEASE_RECORDS,
                   query=f"cursor={value}", status=frozenset({400}), error="invalid_cursor")
    # A cursor past every subject is a valid request for an empty page.
    yield Case("get releases/records cursor=huge", RELEASE_RECORDS, query="cursor=" + "9" * 20,
               status=frozenset({200, 400}))
    for value in ("abc", "%00", "1.5"):
        yield Case(f"get plans/deletions after={value}", DELETIONS, query=f"after={value}")
    yield Case("get plans/deletions after=huge", DELETIONS, query="after=" + "9" * 20,
               status=frozenset({200, 400}))


def _upload_create(case_id: str, body: bytes, content_type: str = JSON, **kw) -> Case:
    return Case(f"post plans/uploads {case_id}", UPLOAD_CREATE, body=body,
                content_type=content_type, **kw)


def upload_create_cases() -> Iterator[Case]:
    """Issue 13 items 2 and 11: what is not a JSON object of declared totals is refused."""
    yield _upload_create("json nested 5000 deep", nested(5000).encode(), status=frozenset({400}))
    yield _upload_create("declared_totals nested 5000 deep",
                         b'{"declared_totals": ' + nested_object(5000).encode() + b"}",
                         status=frozenset({400}))
    yield _upload_create("form-encoded", b"a=b", "application/x-www-form-urlencoded")
    yield _upload_create("form-encoded totals", b"declared_totals=%7B%7D",
                         "application/x-www-form-urlencoded")
    yield _upload_create("multipart", b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n'
                         b"b\r\n--x--\r\n", "multipart/form-data; boundary=x")
    yield _upload_create("json array", b"[]")
    yield _upload_create("json array of totals", b'[{"declared_totals": {}}]')
    yield _upload_create("json string", b'"declared_totals"')
    yield _upload_create("json number", b"42")
    yield _upload_create("json true", b"true")
    yield _upload_create("json as text/plain", b"{}", "text/plain")
    yield _upload_create("json as ndjson", b"{}", NDJSON)
    yield _upload_create("no content type", b"{}", "")
    yield _upload_create("invalid utf-8", b'{"declared_totals": "\xff"}')
    yield _upload_create("utf-8 bom", b'\xef\xbb\xbf{"declared_totals": []}')
    yield _upload_create("lone surrogate key", b'{"\\ud800": 1}', status=frozenset({400}))
    yield _upload_create("lone surrogate totals key", b'{"declared_totals": {"\\ud800": 1}}',
                         status=frozenset({400}))
    yield _upload_create("lone surrogate kind", b'{"declared_totals": {"subjects": '
                         b'{"\\ud800": 1}}}', status=frozenset({400}))
    yield _upload_create("nul totals key", b'{"declared_totals": {"\\u0000": 1}}',
                         status=frozenset({400}))
    yield _upload_create("phone-shaped totals key", b'{"declared_totals": {"010-1234-5678": 1}}',
                         status=frozenset({400}))
    for name, value in (("negative", "-1"), ("float", "1.5"), ("bool", "true"),
                        ("nan", "NaN"), ("infinity", "1e400"),
                        ("2**63", str(2**63)), ("10**30", str(10**30))):
        yield _upload_create(f"subjects {name}", b'{"declared_totals": {"subjects": {"user": '
                             + value.encode() + b"}}}", status=frozenset({400}))
        yield _upload_create(f"balance sum {name}",
                             b'{"declared_totals": {"certificate_balance_sum": '
                             + value.encode() + b"}}", status=frozenset({400}))
    yield _upload_create("duplicate key, the last an array",
                         b'{"declared_totals": {}, "declared_totals": [1]}',
                         status=frozenset({400}))
    yield _upload_create("2 MB body", b'{"declared_totals": {"subjects": {"user": "'
                         + b"9" * 2_000_000 + b'"}}}', status=frozenset({400}))
    yield _upload_create("another operator's plan, nested 5000 deep", nested(5000).encode(),
                         who="unrelated", status=frozenset({404}))


def _batch(case_id: str, body: bytes, rejected: tuple[Rejected, ...] = (),
           content_type: str = NDJSON, **kw) -> Case:
    return Case(f"put uploads/batches {case_id}", BATCH_PUT,
                params={"batch_id": HOSTILE_BATCH_ID}, body=body, content_type=content_type,
                rejected=rejected, **kw)


def _row(case_id: str, row: Any, field_name: str | None, codes: tuple[str, ...] | None,
         **kw) -> Case:
    raw = row if isinstance(row, bytes) else line(row)
    return _batch(case_id, raw, (Rejected(1, field_name, codes),), **kw)


BALANCE = "user.certificate_balance"
AMOUNT = ("invalid_amount",)


def batch_row_cases() -> Iterator[Case]:
    """Rows that must be rejected, each in a batch of its own (a 201 report naming the row)."""
    # Item 1: money without a bound.
    yield _row("balance 2**63-1", row_user(**{BALANCE: 2**63 - 1}), BALANCE, AMOUNT)
    yield _row("balance 2**63", row_user(**{BALANCE: 2**63}), BALANCE, AMOUNT)
    yield _row("balance 2**64", row_user(**{BALANCE: 2**64}), BALANCE, None)
    yield _row("balance 10**30", row_user(**{BALANCE: 10**30}), BALANCE, None)
    yield _row("balance 2**63-1 as text", row_user(**{BALANCE: str(2**63 - 1)}), BALANCE, None)
    yield _row("balance 10**18-1", row_user(**{BALANCE: 10**18 - 1}), BALANCE, AMOUNT)
    yield _row("balance 10**18-1 as text", row_user(**{BALANCE: str(10**18 - 1)}), BALANCE,
               AMOUNT)
    yield _row("risk score 2**63", row_merchant(**{"merchant.internal_risk_score": 2**63}),
               "merchant.internal_risk_score", AMOUNT)
    yield _row("balance duplicate key, the last 2**63",
               line(row_user()).replace(b"}\n", f', "{BALANCE}": {2**63}}}\n'.encode()),
               BALANCE, AMOUNT)
    csv_head = b"kind,external_id,user.phone,user.certificate_balance\n"
    yield _batch("csv balance 2**63", csv_head + f"user,U-7,010-0000-0007,{2**63}\n".encode(),
                 (Rejected(2, BALANCE, None),), content_type="text/csv")
    # Neighbours: amounts that are not whole numbers of won.
    yield _row("balance negative", row_user(**{BALANCE: -1}), BALANCE, AMOUNT)
    yield _row("balance float", row_user(**{BALANCE: 5000.5}), BALANCE, None)
    yield _row("balance true", row_user(**{BALANCE: True}), BALANCE, None)
    yield _row("balance object", row_user(**{BALANCE: {"$numberLong": "1"}}), BALANCE, None)
    # Item 3: non-ASCII digits.
    yield _row("phone full-width digits", row_user(**{"user.phone": "010-１２３４-５６７８"}),
               "user.phone", ("invalid_phone",))
    yield _row("phone arabic-indic digits", row_user(**{"user.phone": arabic_indic(
        "010-1234-5678")}), "user.phone", ("invalid_phone",))
    yield _row("representative phone full-width digits", row_merchant(
        **{"merchant.representative_phone": fullwidth("010-1234-5678")}),
        "merchant.representative_phone", ("invalid_phone",))
    yield _row("brn full-width digits", row_merchant(
        **{"merchant.business_registration_number": fullwidth(synthetic_brn(700))}),
        "merchant.business_registration_number", ("invalid_brn",))
    yield _row("qr id full-width digits", row_merchant(
        **{"merchant.qr_merchant_id": "SQ０１２３４５６７８９"}),
        "merchant.qr_merchant_id", ("invalid_qr_id",))
    yield _row("qr id arabic-indic digits", row_merchant(
        **{"merchant.qr_merchant_id": "SQ" + arabic_indic("0123456789")}),
        "merchant.qr_merchant_id", ("invalid_qr_id",))
    yield _row("balance full-width digits", row_user(**{BALANCE: fullwidth("5000")}),
               BALANCE, None)
    yield _row("risk score full-width digits", row_merchant(
        **{"merchant.internal_risk_score": fullwidth("3")}), "merchant.internal_risk_score",
        None)
    # Item 2: a NUL in an unknown field name; a json field nested 500 deep.
    yield _row("nul in an unknown field name", row_user(**{"user.x\u0000y": 1}), None, None,
               or_refused=True)
    yield _batch("csv nul in an unknown column", b"kind,external_id,user.phone,"
                 b"user.certificate_balance,user.x\x00\nuser,U-7,010-0000-0007,1,2\n",
                 (Rejected(2),), content_type="text/csv", or_refused=True)
    yield _row("json field nested 500 deep",
               line(row_user()).replace(b"}\n", b', "user.issuance_records": '
                                        + nested(500).encode() + b"}\n"),
               "user.issuance_records", None, or_refused=True)
    yield _row("json field nested 5000 deep",
               line(row_user()).replace(b"}\n", b', "user.issuance_records": '
                                        + nested(5000).encode() + b"}\n"),
               None, None, or_refused=True)
    # Neighbours: what is not text, or not this row's.
    yield _row("lone surrogate in a value",
               line(row_user()).replace(b"}\n", b', "user.name": "\\ud800"}\n'), None, None)
    yield _row("invalid utf-8 in a value",
               line(row_user()).replace(b"}\n", b', "user.name": "\xff"}\n'), None, None)
    yield _batch("csv not utf-8", b"kind,external_id,user.name\nuser,U-7,\xff\n",
                 (Rejected(1),), content_type="text/csv", or_refused=True)
    yield _row("nul in the kind", row_user(kind="user\u0000"), "kind", ("unknown_kind",))
    yield _row("nul in the external id", row_user(external_id="U-7\u0000"), "external_id",
               ("invalid_external_id",))
    yield _row("external id of 65 characters", row_user(external_id="U" * 65), "external_id",
               ("invalid_external_id",))
    yield _row("text of 501 characters", row_user(**{"user.name": "가" * 501}), "user.name",
               ("too_long",))
    yield _row("unknown field name of 100,000 characters", row_user(**{"x" * 100_000: 1}),
               None, None, or_refused=True)
    yield _row("a row that is an array", b"[1, 2]\n", None, ("not_an_object",))
    yield _row("a row that is null", b"null\n", None, ("not_an_object",))
    yield _batch("10,000 lines that are not objects", b"1\n" * 10_000,
                 tuple(Rejected(n, None, ("not_an_object",)) for n in (1, 5_000, 10_000)),
                 or_refused=True)
    yield _row("another operator's upload", row_user(**{BALANCE: 2**63}), None, None,
               who="unrelated", status=frozenset({404}))


def _batch_id_still_free(world, send, response, events) -> None:
    """Item 2: a refused body must not use up its batch id."""
    response = send("PUT", f"/api/uploads/{world.open_upload_id}/batches/{HOSTILE_BATCH_ID}",
                    body=good_batch(), content_type=NDJSON)
    assert response.status_code == 201, (
        f"the batch id was used up by the refused request: {response.status_code} "
        f"{response.content[:300]!r}")


def batch_refusal_cases() -> Iterator[Case]:
    """Whole batches refused before any row is read."""
    for value in ("-5", "abc"):
        yield _batch(f"content-length {value}", good_batch(), environ={"CONTENT_LENGTH": value},
                     after=_batch_id_still_free)
    yield _batch("json content type", good_batch(), content_type=JSON,
                 status=frozenset({415}), error="unsupported_media_type")
    yield _batch("no content type", good_batch(), content_type="",
                 status=frozenset({415}), error="unsupported_media_type")
    yield _batch("multipart content type", good_batch(),
                 content_type="multipart/form-data; boundary=x", status=frozenset({415}))
    yield _batch("content type with a nul", good_batch(), content_type="application/x-ndjson\x00",
                 status=frozenset({415}))


def upload_complete_cases() -> Iterator[Case]:
    """Item 11's neighbours: closing an upload takes a JSON object or nothing."""
    def complete(case_id: str, body: bytes, content_type: str = JSON, **kw) -> Case:
        return Case(f"post uploads/complete {case_id}", UPLOAD_COMPLETE, body=body,
                    content_type=content_type, **kw)

    yield complete("json array", b"[]")
    yield complete("json string", b'"x"')
    yield complete("form-encoded", b"a=b", "application/x-www-form-urlencoded")
    yield complete("json as text/plain", b"{}", "text/plain")
    yield complete("json nested 5000 deep", nested(5000).encode(), status=frozenset({400}))
    yield complete("lone surrogate totals key", b'{"declared_totals": {"\\ud800": 1}}',
                   status=frozenset({400}))
    yield complete("balance sum 10**30", b'{"declared_totals": {"certificate_balance_sum": '
                   + str(10**30).encode() + b"}}", status=frozenset({400}))
    yield complete("another operator's upload, json array", b"[]", who="unrelated",
                   status=frozenset({404}))


def _ack_body(world, **changes: Any) -> bytes:
    import datetime as dt
    import secrets

    body = {"release": world.release_id, "manifest_sha256": world.manifest_sha256,
            "nonce": secrets.token_urlsafe(16), "signed_at": dt.datetime.now(dt.UTC).isoformat(),
            "totals": world.released_totals}
    body.update(changes)
    return json.dumps(body).encode()


def acknowledgement_cases() -> Iterator[Case]:
    def ack(case_id: str, body: bytes = b"", content_type: str = JSON, **kw) -> Case:
        return Case(f"post releases/acknowledgements {case_id}", ACKNOWLEDGE, body=body,
                    content_type=content_type, **kw)

    yield ack("json array", b"[]", status=frozenset({400}))
    yield ack("json nested 5000 deep", nested(5000).encode(), status=frozenset({400}))
    yield ack("form-encoded", b"payload=a&signature=b", "application/x-www-form-urlencoded")
    yield ack("numbers", b'{"payload": 1, "signature": []}', status=frozenset({400}))
    yield ack("payload not base64", b'{"payload": "not base64!", "signature": "AA=="}',
              status=frozenset({400}))
    yield ack("lone surrogate payload", b'{"payload": "\\ud800", "signature": "AA=="}',
              status=frozenset({400}))
    # Signed with the recipient's registered key: what is inside must still be checked.
    yield ack("signed json array", signed=lambda w: b"[]", status=frozenset({400}))
    yield ack("signed not utf-8", signed=lambda w: b'{"release": "\xff"}',
              status=frozenset({400}))
    yield ack("signed nested 5000 deep", signed=lambda w: nested(5000).encode(),
              status=frozenset({400}))
    yield ack("signed totals nested 5000 deep",
              signed=lambda w: _ack_body(w, totals={"subjects": 1}).replace(
                  b'"subjects": 1', b'"subjects": ' + nested_object(5000).encode()),
              status=frozenset({400}))
    yield ack("signed lone surrogate subject kind",
              signed=lambda w: _ack_body(w, totals={**w.released_totals, "subjects": {
                  "x": 1}}).replace(b'"x"', b'"\\ud800"'), status=frozenset({400}))
    yield ack("signed nul subject kind",
              signed=lambda w: _ack_body(w, totals={**w.released_totals, "subjects": {
                  "\u0000": 1}}), status=frozenset({400}))
    yield ack("signed signed_at with a nul", signed=lambda w: _ack_body(w, signed_at="\u0000"),
              status=frozenset({400}))
    yield ack("another operator's release, nested 5000 deep", nested(5000).encode(),
              who="unrelated", status=frozenset({404}))


def header_cases() -> Iterator[Case]:
    """Tokens that are not tokens; the public endpoint with hostile headers (item 8's request
    ids on every other operation are in path_parameter_cases)."""
    for name, token in (("phone", "010-1234-5678"), ("nul", "a\x00b"), ("empty", ""),
                        ("5000 characters", "a" * 5000)):
        yield Case(f"get plans bearer token {name}", PLANS, who="anonymous",
                   headers={"Authorization": f"Bearer {token}"}, status=frozenset({401}))
    yield Case("post plans/uploads bearer token phone, nested 5000 deep", UPLOAD_CREATE,
               who="anonymous", headers={"Authorization": "Bearer 010-1234-5678"},
               body=nested(5000).encode(), content_type=JSON, status=frozenset({401}))
    # The one public endpoint has no 4xx to give: it must answer as usual.
    yield Case("get service-key x-request-id=phone", SERVICE_KEY, who="anonymous",
               headers={"X-Request-ID": "010-9999-8888"}, status=frozenset({200}),
               after=_request_id_replaced("010-9999-8888"))
    yield Case("get service-key query nul", SERVICE_KEY, who="anonymous", query="x=%00",
               status=frozenset({200}))


def _request_id_replaced(offered: str) -> Callable[[Any, Any], None]:
    def check(world, send, response, events) -> None:
        assert response.get("X-Request-ID") != offered, "the offered request id was echoed"
        assert all(e.request_id != offered for e in events), (
            "the offered request id reached the audit log")
    return check


def unmatched_cases() -> Iterator[Case]:
    """Item 11: a URL under /api/ that matches nothing is a JSON 404, with or without token."""
    paths = ["/api/nope", "/api/", "/api/plans/", "/api/plans/abc", "/api/plans/{plan}/",
             "/api/plans/{plan}/uploads/extra", "/api/uploads/not-a-uuid",
             "/api/releases/{release}/chunks/", "/api/%00", "/api/plans/{plan}%00"]
    for path in paths:
        for who in ("source", "anonymous"):
            yield Case(f"unmatched {path} as {who}", None, method="GET", path=path, who=who,
                       status=frozenset({404}))
    yield Case("unmatched post /api/nope with a body", None, method="POST", path="/api/nope",
               who="source", body=nested(5000).encode(), content_type=JSON,
               status=frozenset({404}))


def unrelated_cases() -> Iterator[Case]:
    """The unrelated operator, holding every scope, learns nothing from hostile input."""
    for op, query in ((RELEASE_RECORDS, "limit=abc"), (RELEASE_RECORDS, "cursor=abc"),
                      (DELETIONS, "after=abc")):
        yield Case(f"{op[0].lower()} {op[1].removeprefix('/api/')} {query} as unrelated", op,
                   query=query, who="unrelated", status=frozenset({404}))
    yield Case("get uploads/batches batch_id=phone-digits as unrelated", BATCH_GET,
               params={"batch_id": "01012345678"}, who="unrelated", status=frozenset({404}))
    yield Case("get releases/chunks n=1%00 as unrelated", RELEASE_CHUNK,
               params={"n": "1%00"}, who="unrelated", status=frozenset({404}))


def all_cases(schema: dict) -> list[Case]:
    """The corpus, for the operations of ``schema`` (the live OpenAPI document)."""
    cases = [*path_parameter_cases(schema), *query_cases(), *upload_create_cases(),
             *batch_row_cases(), *batch_refusal_cases(), *upload_complete_cases(),
             *acknowledgement_cases(), *header_cases(), *unmatched_cases(), *unrelated_cases()]
    ids = [c.id for c in cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, f"corpus case ids must be unique: {sorted(duplicates)}"
    stale = set(KNOWN_FAILURES) - set(ids)
    assert not stale, f"KNOWN_FAILURES names cases the corpus lacks: {sorted(stale)}"
    return [_with_known_failures(c) for c in cases]


# --- What fails today ----------------------------------------------------------------------

# Case id -> (database it fails on: both, sqlite or postgres; why). Each is a strict xfail:
# remove the entry when its case passes (a fixed case fails until its entry goes).
KNOWN_FAILURES: dict[str, tuple[str, str]] = {}


def _with_known_failures(case: Case) -> Case:
    if case.id not in KNOWN_FAILURES:
        return case
    db, reason = KNOWN_FAILURES[case.id]
    return Case(**{**case.__dict__, "xfail": reason, "xfail_on": db})
