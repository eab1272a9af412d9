"""The OpenAPI schema documents every operator endpoint, its scope and its errors."""

from __future__ import annotations

import pytest
import yaml

pytestmark = pytest.mark.django_db


@pytest.fixture
def release(approved_plan, uploaded, incoming_operator):
    from transfers.services import release_export, release_request

    release = release_request(plan=approved_plan, by=("operator", "operator:SHINHAN"))
    return release_export(release_id=release.pk)


def test_the_schema_names_every_endpoint_with_its_scope_and_errors(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    paths = schema["paths"]
    expected_scope = {
        ("/api/plans/{plan_id}/uploads", "post"): "upload",
        ("/api/uploads/{upload_id}/batches/{batch_id}", "put"): "upload",
        ("/api/plans/{plan_id}/releases", "post"): "release:read",
        ("/api/releases/{release_id}/manifest.json", "get"): "release:read",
        ("/api/releases/{release_id}/manifest.sig", "get"): "release:read",
        ("/api/releases/{release_id}/chunks/{n}", "get"): "release:read",
        ("/api/releases/{release_id}/acknowledgements", "post"): "release:ack",
        ("/api/deletions/{notice_id}/confirm", "post"): "release:ack",
        ("/api/plans/{plan_id}/notices", "get"): "upload",
        ("/api/plans/{plan_id}/notice-attestations", "post"): "upload",
    }
    for (path, method), scope in expected_scope.items():
        operation = paths[path][method]
        assert operation["security"] == [{"operatorOAuth2": [scope]}], path
        assert {"401", "403", "404"} <= set(operation["responses"]), path
    batch = paths["/api/uploads/{upload_id}/batches/{batch_id}"]["put"]
    assert {"409", "413", "415"} <= set(batch["responses"])
    assert set(batch["requestBody"]["content"]) == {"application/x-ndjson", "text/csv"}
    attest = paths["/api/plans/{plan_id}/notice-attestations"]["post"]
    assert {"400", "409", "415"} <= set(attest["responses"])
    assert "$ref" in attest["responses"]["201"]["content"]["application/json"]["schema"]
    assert "$ref" in attest["requestBody"]["content"]["application/json"]["schema"]
    unreached = paths["/api/plans/{plan_id}/notices"]["get"]
    assert "$ref" in unreached["responses"]["200"]["content"]["application/json"]["schema"]
    assert {p["name"] for p in unreached["parameters"]} >= {"after", "limit"}
    flows = schema["components"]["securitySchemes"]["operatorOAuth2"]["flows"]
    assert set(flows["clientCredentials"]["scopes"]) == {"upload", "release:read",
                                                         "release:ack"}
    assert paths["/api/service-key"]["get"]["security"] == [{}]
    assert client.get("/api/docs/").status_code == 200


# The operator API's own operations (transfers.urls), by operation id.
OPERATOR_OPERATIONS = {
    "service_key", "plans_list", "plans_retrieve", "uploads_create", "uploads_retrieve",
    "uploads_complete", "batches_send", "batches_retrieve", "releases_list", "releases_request",
    "releases_retrieve", "releases_manifest", "releases_signature", "releases_chunk",
    "releases_records", "releases_acknowledge", "releases_apply_report", "deletions_list",
    "deletions_confirm", "plans_notices_unreached", "plans_notice_attestations_create",
    "plans_corrections_list",
}


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_every_body_of_the_operator_api_is_a_named_type(client):
    """Issue 18: no 2xx or 4xx body is a bare object (a generated client would need a cast):
    JSON bodies are components ($ref), files are binary."""
    schema = client.get("/api/schema/?format=json").json()
    ids = {op["operationId"]: (path, method, op) for path, method, op in _operations(schema)}
    assert OPERATOR_OPERATIONS <= set(ids), OPERATOR_OPERATIONS - set(ids)
    for op_id in OPERATOR_OPERATIONS:
        path, method, operation = ids[op_id]
        assert operation.get("description"), f"{op_id}: no description of scope and errors"
        for code, response in operation["responses"].items():
            content = response.get("content", {})
            if code not in ("200", "201", "202") and not code.startswith("4"):
                continue
            assert content, f"{op_id} {code}: no body declared"
            for media, body in content.items():
                if media == "application/octet-stream":
                    assert body["schema"] == {"type": "string", "format": "binary"}
                else:
                    assert set(body["schema"]) == {"$ref"}, f"{op_id} {code} {media}: {body}"
    assert ids["releases_manifest"][2]["responses"]["200"]["content"].keys() == {
        "application/json"}
    chunk = ids["releases_chunk"][2]
    [n] = [p for p in chunk["parameters"] if p["name"] == "n"]
    assert n["in"] == "path" and n["schema"]["type"] == "integer"


def test_the_schema_names_the_server_and_an_absolute_token_url(client, settings):
    settings.PUBLIC_BASE_URL = "https://broker.example"
    schema = client.get("/api/schema/?format=json").json()
    assert schema["servers"][0]["url"] == "https://broker.example"
    flow = schema["components"]["securitySchemes"]["operatorOAuth2"]["flows"]
    assert flow["clientCredentials"]["tokenUrl"] == "https://broker.example/o/token/"


def test_every_link_of_a_ready_release_resolves(shinhan_api, release):
    answer = shinhan_api.get(f"/api/releases/{release.public_id}").json()
    links = answer["links"]
    assert len(links["chunks"]) == release.chunk_count >= 1
    for name in ("manifest", "signature", "records"):
        response = shinhan_api.get(links[name].removeprefix("http://testserver"))
        assert response.status_code == 200, (name, response.content[:200])
    for url in links["chunks"]:
        assert shinhan_api.get(url.removeprefix("http://testserver")).status_code == 200
    manifest = shinhan_api.get(links["manifest"].removeprefix("http://testserver"))
    assert manifest["Content-Type"] == "application/json"
    assert manifest.content == bytes(release.manifest)
    for part in ("acknowledgements", "apply_reports"):
        assert links[part].startswith("http://testserver/api/releases/")
