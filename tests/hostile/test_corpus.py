"""Issue 13: every hostile request to the operator API gets a documented 4xx with a clear JSON
message (or a batch report rejecting the hostile rows), stores nothing, and leaves nothing
shaped like a personal number in the audit log. The cases are in tests/hostile/corpus.py."""

from __future__ import annotations

import base64
import json
import re

import pytest
from django.test import Client

from audit.models import AuditEvent
from tests.hostile import corpus
from tests.hostile.conftest import (
    OPEN_BATCH_ID,
    documented_statuses,
    last_audit_id,
    make_sender,
    personal_values_in_audit,
    stored_counts,
)


def _live_schema() -> dict:
    """The OpenAPI document, read once when the corpus is collected (no database needed)."""
    response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200, response.content[:500]
    return response.json()


CASES = corpus.all_cases(_live_schema())


def _param(case: corpus.Case):
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfails_here() else []
    return pytest.param(case, id=case.id, marks=marks)


def _path(case: corpus.Case, world) -> str:
    if case.op is None:
        path = case.path.format(**world.ids())
    else:
        method, template = case.op
        defaults = {"plan_id": world.plan_id, "upload_id": world.open_upload_id,
                    "batch_id": OPEN_BATCH_ID if method == "GET" else corpus.HOSTILE_BATCH_ID,
                    "release_id": world.release_id, "n": 1,
                    # settlement's refund case and balance list: none in the world (a
                    # plain 404)
                    "case_id": 999999, "list_id": 999999,
                    "notice_id": world.notice_id}
        names = re.findall(r"{(\w+)}", template)
        unknown = (set(names) - set(defaults) - set(case.params)) | (set(case.params)
                                                                     - set(names))
        assert not unknown, f"the corpus and the schema disagree on path parameters: {unknown}"
        path = template.format(**{n: case.params.get(n, defaults[n]) for n in names})
    return f"{path}?{case.query}" if case.query else path


def _body(case: corpus.Case, world) -> bytes:
    if case.signed is None:
        return case.body
    payload = case.signed(world)
    signature = world.recipient_signing_key.sign(payload)
    return json.dumps({"payload": base64.b64encode(payload).decode(),
                       "signature": base64.b64encode(signature).decode()}).encode()


def _expected(case: corpus.Case, documented: set[int] | None, owner: str) -> set[int]:
    refusals = {s for s in documented or {404} if 400 <= s < 500}
    if owner != "anonymous":
        refusals -= {401, 403}  # the token is live and holds the scope
    if case.status is not None:
        return set(case.status)
    if case.rejected:
        return {201} | (refusals if case.or_refused else set())
    return refusals


def _json(response) -> object:
    content_type = response.get("Content-Type", "")
    assert content_type.startswith("application/json"), (
        f"{response.status_code} answered as {content_type!r}, not JSON: "
        f"{response.content[:200]!r}")
    return json.loads(response.content)


def _check_refusal(case: corpus.Case, response) -> None:
    data = _json(response)
    assert isinstance(data, dict), data
    error, detail = data.get("error"), data.get("detail")
    assert isinstance(error, str) and error, f"no error code: {data}"
    assert isinstance(detail, str) and detail.strip(), f"no clear message: {data}"
    if case.error:
        assert error == case.error, data


def _check_report(case: corpus.Case, response) -> None:
    report = _json(response)
    rejections = report["rejections"]
    assert report["accepted"] == 0, f"a hostile row was accepted: {rejections[:5]}"
    assert report["rejected"] == report["lines"], report
    for want in case.rejected:
        rows = [r for r in rejections
                if r["line"] == want.line and (want.field is None or r["field"] == want.field)]
        assert rows, f"line {want.line} ({want.field or 'any field'}) is not rejected: " \
                     f"{rejections[:5]}"
        if want.codes:
            assert any(r["code"] in want.codes for r in rows), (
                f"line {want.line}: {[r['code'] for r in rows]}, not {want.codes}")


@pytest.mark.django_db
@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_a_hostile_request_is_refused_clearly_and_leaves_no_trace(case, world, openapi_schema):
    send = make_sender(world)
    documented = (documented_statuses(openapi_schema, *case.op) if case.op is not None
                  else None)
    before, audit_from = stored_counts(), last_audit_id()

    owner = case.owner(openapi_schema)
    response = send(case.method or case.op[0], _path(case, world), body=_body(case, world),
                    content_type=case.content_type, headers=case.headers,
                    environ=case.environ, who=owner)

    status = response.status_code
    assert status < 500, f"server error {status}: {response.content[:300]!r}"
    if documented is not None:
        assert status in documented, (
            f"{status} is not documented for {' '.join(case.op)} (documented: "
            f"{sorted(documented)}): {response.content[:300]!r}")
    expected = _expected(case, documented, owner)
    assert status in expected, (
        f"{status}, expected one of {sorted(expected)}: {response.content[:300]!r}")
    after = stored_counts()
    if case.rejected and status == 201:
        _check_report(case, response)
        assert after == {**before, "UploadBatch": before["UploadBatch"] + 1}, (
            "a rejected row was stored")
    else:
        if status >= 400:
            _check_refusal(case, response)
        else:
            _json(response)
        assert after == before, "a refused request stored something"
    assert personal_values_in_audit(audit_from) == []
    if case.after is not None:
        events = list(AuditEvent.objects.filter(id__gt=audit_from))
        case.after(world, send, response, events)


def test_the_corpus_reaches_every_operation_of_the_schema(openapi_schema):
    operations = {op for op, _ in corpus.operations(openapi_schema)}
    covered = {case.op for case in CASES if case.op is not None}
    assert operations - covered == set(), "operations without hostile cases"
    assert covered - operations == set(), "the corpus names operations the schema lacks"
