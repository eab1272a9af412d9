"""A revoked operator client gets no token from /o/token/ and keeps none: the revocation,
the dropped tokens and the audit event are one transaction."""

from __future__ import annotations

import base64

import pytest
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from audit.models import AuditEvent
from tests.staff import login_verified
from tests.transfers.conftest import make_api
from transfers.models import OperatorClient
from transfers.services import operator_client_revoke

pytestmark = pytest.mark.django_db


def _ask_for_a_token(api, *, credentials_in: str = "header"):
    form = {"grant_type": "client_credentials", "scope": "release:read"}
    if credentials_in == "body":
        return Client().post("/o/token/", {**form, "client_id": api.client_id,
                                           "client_secret": api.secret})
    basic = base64.b64encode(f"{api.client_id}:{api.secret}".encode()).decode()
    return Client().post("/o/token/", form, HTTP_AUTHORIZATION=f"Basic {basic}")


def _client_of(api) -> OperatorClient:
    return OperatorClient.objects.get(application__client_id=api.client_id)


@pytest.mark.parametrize("credentials_in", ["header", "body"])
def test_it_refuses_a_token_to_a_revoked_client(incoming_operator, credentials_in):
    api = make_api(incoming_operator)
    assert _ask_for_a_token(api, credentials_in=credentials_in).status_code == 200
    operator_client_revoke(client=_client_of(api), by=None)
    response = _ask_for_a_token(api, credentials_in=credentials_in)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_it_refuses_a_token_to_a_client_an_officer_revoked_in_the_admin(
        client, officer, incoming_operator):
    api = make_api(incoming_operator)
    login_verified(client, officer)
    response = client.post(reverse("admin:transfers_operatorclient_changelist"),
                           {"action": "revoke", "_selected_action": [_client_of(api).pk]})
    assert response.status_code == 302
    assert _ask_for_a_token(api).status_code == 401
    event = AuditEvent.objects.get(action="api_client.revoked")
    assert (event.actor_id, event.target_id) == (f"user:{officer.pk}", str(_client_of(api).pk))


def test_it_refuses_a_token_that_outlived_the_revocation(incoming_operator):
    """A token issued while the revocation was committing is refused when it is used."""
    api = make_api(incoming_operator)
    late = _ask_for_a_token(api).json()["access_token"]
    OperatorClient.objects.filter(pk=_client_of(api).pk).update(active=False)
    response = api.get("/api/plans", token=late)
    assert response.status_code == 401


def test_revoking_drops_the_clients_access_and_refresh_tokens(officer, incoming_operator):
    api = make_api(incoming_operator)
    application = _client_of(api).application
    get_refresh_token_model().objects.create(user=officer, application=application,
                                             token="refresh-token-of-the-client")
    operator_client_revoke(client=_client_of(api), by=None)
    assert not get_access_token_model().objects.filter(application=application).exists()
    assert not get_refresh_token_model().objects.filter(application=application).exists()


def test_revoking_twice_records_one_revocation(incoming_operator):
    api = make_api(incoming_operator)
    operator_client_revoke(client=_client_of(api), by=None)
    operator_client_revoke(client=_client_of(api), by=None)
    assert AuditEvent.objects.filter(action="api_client.revoked").count() == 1


def test_a_revocation_whose_audit_event_fails_leaves_the_client_working(
        incoming_operator, monkeypatch):
    from transfers.services import clients

    def audit_down(*args, **kwargs):
        raise RuntimeError("audit trail unavailable")

    api = make_api(incoming_operator)
    monkeypatch.setattr(clients, "audit_event", audit_down)
    with pytest.raises(RuntimeError):
        operator_client_revoke(client=_client_of(api), by=None)
    assert _client_of(api).active
    assert api.get("/api/plans").status_code == 200
    assert _ask_for_a_token(api).status_code == 200
