"""The OpenAPI schema documents every operator endpoint, its scope and its errors."""

from __future__ import annotations

import pytest
import yaml

pytestmark = pytest.mark.django_db


def test_the_schema_names_every_endpoint_with_its_scope_and_errors(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    paths = schema["paths"]
    expected_scope = {
        ("/api/plans/{plan_id}/uploads", "post"): "upload",
        ("/api/uploads/{upload_id}/batches/{batch_id}", "put"): "upload",
        ("/api/plans/{plan_id}/releases", "post"): "release:read",
        ("/api/releases/{release_id}/{file}", "get"): "release:read",
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
