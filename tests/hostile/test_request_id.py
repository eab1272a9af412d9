"""Issue 13 item 8: an X-Request-ID shaped like a phone, business or resident number never
reaches the audit log; the request gets an id of its own, on every operator endpoint."""

from __future__ import annotations

import base64
import json

import pytest

from audit.models import AuditEvent
from tests.hostile import corpus
from tests.hostile.conftest import documented_statuses, make_sender, personal_values_in_audit

OPERATIONS = [corpus.SERVICE_KEY, corpus.PLANS, corpus.PLAN, corpus.UPLOAD_CREATE,
              corpus.RELEASES, corpus.RELEASE_REQUEST, corpus.DELETIONS, corpus.UPLOAD,
              corpus.UPLOAD_COMPLETE, corpus.BATCH_PUT, corpus.BATCH_GET, corpus.RELEASE,
              corpus.RELEASE_RECORDS, corpus.RELEASE_MANIFEST, corpus.RELEASE_SIGNATURE,
              corpus.RELEASE_CHUNK, corpus.ACKNOWLEDGE,
              corpus.DELETION_CONFIRM]


def _signed_acknowledgement(world) -> bytes:
    payload = corpus._ack_body(world)
    signature = world.recipient_signing_key.sign(payload)
    return json.dumps({"payload": base64.b64encode(payload).decode(),
                       "signature": base64.b64encode(signature).decode()}).encode()


def _valid_call(op: tuple[str, str], world) -> dict:
    """An ordinary request of ``op`` that succeeds: (path, who, body, content_type)."""
    p, u, r = world.plan_id, world.open_upload_id, world.release_id
    as_json = {"body": b"{}", "content_type": "application/json"}
    return {
        corpus.SERVICE_KEY: {"path": "/api/service-key", "who": "anonymous"},
        corpus.PLANS: {"path": "/api/plans"},
        corpus.PLAN: {"path": f"/api/plans/{p}"},
        corpus.UPLOAD_CREATE: {"path": f"/api/plans/{p}/uploads", **as_json},
        corpus.RELEASES: {"path": f"/api/plans/{p}/releases", "who": "recipient"},
        corpus.RELEASE_REQUEST: {"path": f"/api/plans/{p}/releases", "who": "recipient"},
        corpus.DELETIONS: {"path": f"/api/plans/{p}/deletions", "who": "recipient"},
        corpus.UPLOAD: {"path": f"/api/uploads/{u}"},
        corpus.UPLOAD_COMPLETE: {"path": f"/api/uploads/{u}/complete", **as_json},
        corpus.BATCH_PUT: {"path": f"/api/uploads/{u}/batches/{corpus.HOSTILE_BATCH_ID}",
                           "body": corpus.good_batch(), "content_type": corpus.NDJSON},
        corpus.BATCH_GET: {"path": f"/api/uploads/{u}/batches/b1"},
        corpus.RELEASE: {"path": f"/api/releases/{r}", "who": "recipient"},
        corpus.RELEASE_RECORDS: {"path": f"/api/releases/{r}/records", "who": "recipient"},
        corpus.RELEASE_MANIFEST: {"path": f"/api/releases/{r}/manifest.json",
                                  "who": "recipient"},
        corpus.RELEASE_SIGNATURE: {"path": f"/api/releases/{r}/manifest.sig",
                                   "who": "recipient"},
        corpus.RELEASE_CHUNK: {"path": f"/api/releases/{r}/chunks/1", "who": "recipient"},
        corpus.ACKNOWLEDGE: {"path": f"/api/releases/{r}/acknowledgements", "who": "recipient",
                             "body": _signed_acknowledgement(world),
                             "content_type": "application/json"},
        corpus.DELETION_CONFIRM: {"path": f"/api/deletions/{world.notice_id}/confirm",
                                  "who": "recipient"},
    }[op]


@pytest.mark.django_db
@pytest.mark.parametrize("request_id", list(corpus.REQUEST_IDS.values()),
                         ids=list(corpus.REQUEST_IDS))
@pytest.mark.parametrize("op", OPERATIONS, ids=[" ".join(op) for op in OPERATIONS])
def test_a_request_id_shaped_like_a_personal_number_is_replaced(op, request_id, world,
                                                                 openapi_schema):
    call = _valid_call(op, world)
    audit_from = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0

    response = make_sender(world)(op[0], call["path"], body=call.get("body", b""),
                                  content_type=call.get("content_type"),
                                  headers={"X-Request-ID": request_id},
                                  who=call.get("who", "source"))

    assert 200 <= response.status_code < 300, response.content[:300]
    assert response.status_code in documented_statuses(openapi_schema, *op)
    own_id = response["X-Request-ID"]
    assert own_id and own_id != request_id
    events = list(AuditEvent.objects.filter(id__gt=audit_from))
    if op != corpus.SERVICE_KEY:  # the public key is not an operator's call
        assert events, "the call left no audit event"
    assert {e.request_id for e in events} <= {own_id}, "an event carries another request id"
    assert personal_values_in_audit(audit_from) == []


def test_every_operation_of_the_schema_without_path_parameters_is_called_here(openapi_schema):
    """The corpus sends these request ids to every operation with path parameters, on a
    request for nothing (tests/hostile/corpus.py); the others must be called here."""
    schema_operations = dict(corpus.operations(openapi_schema))
    assert set(OPERATIONS) <= set(schema_operations), "operations the schema no longer has"
    without = {op for op, operation in schema_operations.items()
               if not corpus.path_parameters(operation)}
    assert without <= set(OPERATIONS)
