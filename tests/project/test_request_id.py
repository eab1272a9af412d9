"""The request id a caller offers reaches the permanent audit log only if it is a UUID."""

import re

import pytest

OWN_ID = re.compile(r"[0-9a-f]{32}")


@pytest.mark.django_db
@pytest.mark.parametrize("offered", [
    "010-9999-8888", "01099998888", "123-45-67890", "900101-1234567", "ci-check-0001",
    "x" * 64, "3f2b8c1e0d4a4c559e217a6b5c4d3e2f\n", "３f2b8c1e0d4a4c559e217a6b5c4d3e2f"])
def test_it_replaces_an_offered_request_id_that_is_not_a_uuid(offered, client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=offered)
    assert OWN_ID.fullmatch(response["X-Request-ID"])
    assert response["X-Request-ID"] != offered


@pytest.mark.django_db
def test_it_keeps_an_offered_uuid_in_either_spelling(client):
    for offered in ("3F2B8C1E-0D4A-4C55-9E21-7A6B5C4D3E2F", "3f2b8c1e0d4a4c559e217a6b5c4d3e2f"):
        assert client.get("/healthz", HTTP_X_REQUEST_ID=offered)["X-Request-ID"] == \
            offered.lower()
