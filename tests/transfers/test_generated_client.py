"""Issue 18: a client generated from the live schema (openapi-python-client, as a newcomer
would) runs the source's upload and the recipient's whole flow without a cast or a
hand-written call, except the documented raw batch body (docs/api.md).

The client is generated into a temporary directory from `/api/schema/` on every run, so a
schema change that breaks generated clients (a renamed operation, an untyped body, a field
the answers do not carry) fails here. Requests go through httpx's WSGI transport to Django in
the test's transaction: no server, and the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import importlib
import json
import re
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client

from governance.models import DataSubject
from tests.history import notified_long_ago
from transfers import format as fmt
from transfers import synthetic
from transfers.services import operator_client_create, release_export

pytestmark = pytest.mark.django_db

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "broker_client"
# Operations the generator cannot type (raw NDJSON/CSV bodies): sent with its httpx client.
RAW_BODY_OPERATIONS = {"PUT /api/uploads/{upload_id}/batches/{batch_id}",
                       "PUT /api/plans/{plan_id}/balance-lists/{list_id}/body"}


def _wsgi_app():
    """Django's WSGI handler inside the test's transaction (as tests/hostile does)."""
    handler = WSGIHandler()

    def app(environ, start_response):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            response = handler(environ, start_response)
            try:
                return [b"".join(response)]
            finally:
                response.close()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)

    return app


def _generate(tmp_path: Path) -> tuple[object, dict, set[str]]:
    """The generated package (imported), the schema it came from, and the operations the
    generator said it skipped."""
    schema = Client().get("/api/schema/?format=json").json()
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    (tmp_path / "config.yml").write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    done = subprocess.run(  # noqa: S603 - our own venv's generator, fixed arguments
        [str(GENERATOR), "generate", "--path", str(tmp_path / "schema.json"), "--meta", "none",
         "--config", str(tmp_path / "config.yml"), "--output-path", str(tmp_path / PACKAGE)],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    skipped = set(re.findall(r"WARNING parsing (\w+ \S+) within", done.stdout + done.stderr))
    sys.path.insert(0, str(tmp_path))
    try:
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]
        package = importlib.import_module(PACKAGE)
        for module in ("api.plans.plans_list", "api.plans.releases_request",
                       "api.plans.uploads_create", "api.plans.plans_corrections_list",
                       "api.releases.releases_retrieve", "api.releases.releases_manifest",
                       "api.releases.releases_signature", "api.releases.releases_chunk",
                       "api.releases.releases_acknowledge", "api.releases.releases_apply_report",
                       "api.uploads.uploads_complete", "api.service_key.service_key", "models"):
            importlib.import_module(f"{PACKAGE}.{module}")
    finally:
        sys.path.remove(str(tmp_path))
    return package, schema, skipped


def _token(schema: dict, transport, client_id: str, secret: str, scope: str) -> str:
    """The client-credentials call, at the schema's own tokenUrl (generators don't make it)."""
    flow = schema["components"]["securitySchemes"]["operatorOAuth2"]["flows"]
    token_url = flow["clientCredentials"]["tokenUrl"]
    assert token_url.startswith(("http://", "https://")), "tokenUrl must be absolute"
    with httpx.Client(transport=transport) as http:
        answer = http.post(token_url, data={"grant_type": "client_credentials", "scope": scope},
                           auth=(client_id, secret))
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def _sign(key, body: dict) -> tuple[str, str]:
    payload = json.dumps(body, sort_keys=True).encode()
    return base64.b64encode(payload).decode(), base64.b64encode(key.sign(payload)).decode()


def test_a_generated_client_runs_the_source_upload_and_the_recipient_flow(
        tmp_path, approved_plan, outgoing_operator, incoming_operator):
    package, schema, skipped = _generate(tmp_path)
    assert skipped <= RAW_BODY_OPERATIONS, f"the generator skipped {skipped - RAW_BODY_OPERATIONS}"
    api = package.api
    models = sys.modules[f"{PACKAGE}.models"]
    transport = httpx.WSGITransport(app=_wsgi_app())
    base_url = schema["servers"][0]["url"]

    def client_of(party, scope):
        new = operator_client_create(operator=party.operator, by=None)
        token = _token(schema, transport, new.client_id, new.client_secret, scope)
        return package.AuthenticatedClient(base_url=base_url, token=token,
                                           httpx_args={"transport": transport},
                                           raise_on_unexpected_status=True)

    # --- The source: create an upload, send one batch (the raw call), complete it ---------
    source = client_of(outgoing_operator, "upload")
    [plan] = api.plans.plans_list.sync(client=source).plans
    assert plan.role == models.PlanRoleEnum.SOURCE and plan.id == approved_plan.pk
    upload = api.plans.uploads_create.sync(plan.id, client=source, body=models.UploadTotalsInput(
        declared_totals=models.DeclaredTotals(subjects=models.SubjectCounts(merchant=3, user=2))))
    rows = list(synthetic.rows("merchant", 1, 3)) + list(synthetic.rows("user", 1, 2))
    body = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)
    # The documented raw-body call: the generated client's own httpx client, its token and
    # base URL; the answer parsed by the generated model.
    sent = source.get_httpx_client().put(f"/api/uploads/{upload.id}/batches/b1", content=body,
                                         headers={"Content-Type": "application/x-ndjson"})
    assert sent.status_code == 201, sent.text
    report = models.BatchReport.from_dict(sent.json())
    assert (report.accepted, report.rejected) == (5, 0)
    done = api.uploads.uploads_complete.sync(upload.id, client=source,
                                             body=models.UploadTotalsInput())
    assert done.status == models.UploadStatusEnum.COMPLETE and done.totals_match
    notified_long_ago(approved_plan, DataSubject.objects.filter(kind="user"))

    # --- The recipient: plans, ask for a release, poll, verify, decrypt, acknowledge ------
    recipient = client_of(incoming_operator, "release:read release:ack")
    [plan] = api.plans.plans_list.sync(client=recipient).plans
    assert plan.role == models.PlanRoleEnum.RECIPIENT
    asked = api.plans.releases_request.sync(plan.id, client=recipient)
    assert asked.status == models.ReleaseStatusEnum.PENDING
    release_export(release_id=_release_pk(asked.id))  # the export job (a Celery worker)
    release = api.releases.releases_retrieve.sync(asked.id, client=recipient)
    assert release.status == models.ReleaseStatusEnum.READY and release.suite.value == "x25519"
    assert len(release.links.chunks) == release.chunks

    key = api.service_key.service_key.sync(client=recipient)
    manifest_response = api.releases.releases_manifest.sync_detailed(release.id,
                                                                     client=recipient)
    manifest_bytes = manifest_response.content  # verify the bytes, never the parsed model
    signature = api.releases.releases_signature.sync_detailed(release.id,
                                                              client=recipient).content
    Ed25519PublicKey.from_public_bytes(base64.b64decode(key.public_key)).verify(
        signature, manifest_bytes)
    manifest = manifest_response.parsed
    assert manifest.release.id == release.id and manifest.suite.kem_id == 0x0020
    assert hashlib.sha256(manifest_bytes).hexdigest() == release.manifest_sha256

    records = []
    for n, chunk in enumerate(manifest.chunks, start=1):
        data = api.releases.releases_chunk.sync_detailed(release.id, n, client=recipient).content
        assert hashlib.sha256(data).hexdigest() == chunk.sha256
        plain = fmt.chunk_decrypt(data, incoming_operator.hpke_private_key,
                                  base64.b64decode(chunk.info))
        records += [json.loads(line) for line in plain.splitlines()]
    assert sorted(r["external_id"] for r in records) == sorted(r["external_id"] for r in rows)

    totals = {"records": manifest.counts["records"], "subjects": manifest.counts["subjects"],
              "fields": manifest.counts["fields"],
              "certificate_balance_sum": manifest.control_totals.certificate_balance_sum}
    payload, signed = _sign(incoming_operator.signing_private_key, {
        "release": str(release.id), "manifest_sha256": release.manifest_sha256,
        "nonce": secrets.token_urlsafe(24), "signed_at": dt.datetime.now(dt.UTC).isoformat(),
        "totals": totals})
    ack = api.releases.releases_acknowledge.sync(
        release.id, client=recipient,
        body=models.AcknowledgementInput(payload=payload, signature=signed))
    assert ack.matches and ack.mismatches == []

    # --- The recipient could not apply one merchant: the source is asked to correct it ------
    merchant = next(r for r in records if r["kind"] == "merchant")
    payload, signed = _sign(incoming_operator.signing_private_key, {
        "release": str(release.id), "manifest_sha256": release.manifest_sha256,
        "nonce": secrets.token_urlsafe(24), "signed_at": dt.datetime.now(dt.UTC).isoformat(),
        "records": [{"subject": merchant["subject"], "reason": "qr_unknown"}]})
    applied = api.releases.releases_apply_report.sync(
        release.id, client=recipient,
        body=models.ApplyReportInput(payload=payload, signature=signed))
    assert applied.records == 1 and applied.corrections_opened == 1
    page = api.plans.plans_corrections_list.sync(plan.id, client=source)
    [correction] = page.corrections
    assert correction.external_id == merchant["external_id"]
    assert correction.reason == models.CorrectionReasonEnum.QR_UNKNOWN


def _release_pk(public_id) -> int:
    from transfers.models import Release

    return Release.objects.get(public_id=public_id).pk
