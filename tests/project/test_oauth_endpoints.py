"""Under /o/ the broker serves only what operators' systems call: the token, revoke-token and
introspection endpoints. No staff login can register itself an OAuth application there."""

from __future__ import annotations

import base64

import pytest
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import get_application_model

from tests.staff import login_verified
from transfers.services import operator_client_create

pytestmark = pytest.mark.django_db

# Every other page django-oauth-toolkit's urls.py would serve under /o/.
NOT_SERVED = [
    "/o/applications/", "/o/applications/register/", "/o/applications/1/",
    "/o/applications/1/update/", "/o/applications/1/delete/", "/o/authorized_tokens/",
    "/o/authorize/", "/o/device-authorization/", "/o/device/", "/o/register/",
    "/o/userinfo/", "/o/logout/", "/o/.well-known/openid-configuration",
    "/o/.well-known/jwks.json", "/o/.well-known/oauth-authorization-server",
]


def _logged_in(user) -> Client:
    http = Client()
    login_verified(http, user)
    return http


def test_it_refuses_to_let_the_commission_reviewer_register_an_oauth_application(
        commission_reviewer):
    http = _logged_in(commission_reviewer)
    assert http.get("/o/applications/register/").status_code == 404
    response = http.post("/o/applications/register/", {
        "name": "reviewer's own client", "client_type": "confidential",
        "authorization_grant_type": "client-credentials", "client_id": "reviewer",
        "client_secret": "reviewer-secret", "redirect_uris": "", "algorithm": ""})
    assert response.status_code == 404
    assert not get_application_model().objects.exists()


def test_it_serves_none_of_the_oauth_management_or_browser_pages_even_to_an_officer(officer):
    http = _logged_in(officer)
    served = {url: http.get(url).status_code for url in NOT_SERVED}
    assert served == dict.fromkeys(NOT_SERVED, 404)


def test_an_operator_client_still_gets_inspects_and_revokes_its_token_at_the_named_endpoints(
        outgoing_operator):
    new = operator_client_create(operator=outgoing_operator.operator, by=None)
    basic = base64.b64encode(f"{new.client_id}:{new.client_secret}".encode()).decode()
    http = Client(HTTP_AUTHORIZATION=f"Basic {basic}")
    assert reverse("oauth2_provider:token") == "/o/token/"
    response = http.post(reverse("oauth2_provider:token"),
                         {"grant_type": "client_credentials", "scope": "upload"})
    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "Bearer"
    token = response.json()["access_token"]

    introspected = http.post(reverse("oauth2_provider:introspect"), {"token": token}).json()
    assert (introspected["active"], introspected["client_id"]) == (True, new.client_id)
    assert http.post(reverse("oauth2_provider:revoke-token"), {"token": token}).status_code == 200
    assert http.post(reverse("oauth2_provider:introspect"), {"token": token}).json() == {
        "active": False}
