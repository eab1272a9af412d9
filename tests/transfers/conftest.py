"""Transfers fixtures: operators' API clients with real OAuth2 tokens, uploaded records."""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client

from transfers import synthetic

ALL_SCOPES = "upload release:read release:ack"


class OperatorApi:
    """An operator's system calling the API with a real client-credentials token."""

    def __init__(self, party, client_id: str, secret: str, scope: str = ALL_SCOPES):
        self.party, self.client_id, self.secret = party, client_id, secret
        self.http = Client()
        self.token = self.fetch_token(scope)

    def fetch_token(self, scope: str) -> str:
        basic = base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
        response = self.http.post("/o/token/", {"grant_type": "client_credentials",
                                                "scope": scope},
                                  HTTP_AUTHORIZATION=f"Basic {basic}")
        assert response.status_code == 200, response.content
        return response.json()["access_token"]

    def _headers(self, token=None) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {token or self.token}"}

    def get(self, path: str, token=None, **params):
        return self.http.get(path, params, **self._headers(token))

    def post(self, path: str, data=None, token=None):
        return self.http.post(path, json.dumps(data or {}), content_type="application/json",
                              **self._headers(token))

    def put(self, path: str, body: bytes, content_type: str = "application/x-ndjson",
            token=None):
        return self.http.put(path, body, content_type=content_type, **self._headers(token))


def make_api(party, scope: str = ALL_SCOPES) -> OperatorApi:
    from transfers.services import operator_client_create

    new = operator_client_create(operator=party.operator, by=None)
    return OperatorApi(party, new.client_id, new.client_secret, scope)


@pytest.fixture
def kepf_api(outgoing_operator) -> OperatorApi:
    return make_api(outgoing_operator)


@pytest.fixture
def shinhan_api(incoming_operator) -> OperatorApi:
    return make_api(incoming_operator)


@pytest.fixture
def bizplay_api(unrelated_operator) -> OperatorApi:
    return make_api(unrelated_operator)


def ndjson(rows) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)


def upload_rows(plan, rows, *, batch_id: str = "b1", declared=None):
    """Upload rows for ``plan`` through the service (as KEPF) and complete the upload."""
    from transfers.services import upload_batch_receive, upload_complete, upload_create

    by = ("operator", f"operator:{plan.from_operator.code}")
    upload = upload_create(plan=plan, by=by, declared_totals=declared)
    result = upload_batch_receive(upload=upload, batch_id=batch_id, body=ndjson(rows),
                                  content_type="application/x-ndjson", by=by)
    upload_complete(upload=upload, by=by)
    return upload, result.batch


@pytest.fixture
def uploaded(approved_plan):
    """Ten merchants and ten users uploaded for the approved plan, the users reached by its
    Art. 27 notice 31 days ago (so their notice fields may move)."""
    from governance.models import DataSubject
    from tests.history import notified_long_ago

    rows = list(synthetic.rows("merchant", 1, 10)) + list(synthetic.rows("user", 1, 10))
    result = upload_rows(approved_plan, rows)
    notified_long_ago(approved_plan, DataSubject.objects.filter(kind="user"))
    return result


def stored_values(plan) -> dict[str, dict]:
    """External id -> the values stored (decrypted) for each record uploaded under ``plan``."""
    from governance.models import DataSubject
    from transfers.models import Record
    from transfers.selectors import records_values

    subject_ids = list(Record.objects.filter(plan=plan).values_list("subject_id", flat=True))
    external = dict(DataSubject.objects.filter(id__in=subject_ids)
                    .values_list("id", "external_id"))
    return {external[sid]: values
            for sid, values in records_values(plan_id=plan.pk, subject_ids=subject_ids).items()}


def stored_block_tokens() -> list[str]:
    """The raw column of every record block, as the database holds it."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT records FROM transfers_recordblock ORDER BY id")
        return [token for (token,) in cursor.fetchall()]
