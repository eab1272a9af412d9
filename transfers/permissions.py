"""Who may call the operator API: a live OAuth2 token of an active operator client, with the
scope the endpoint names. Which plans it may touch is decided per endpoint (404 otherwise)."""

from __future__ import annotations

from oauth2_provider.contrib.rest_framework import TokenHasScope
from rest_framework.permissions import BasePermission

SCOPE_UPLOAD = "upload"
SCOPE_RELEASE_READ = "release:read"
SCOPE_RELEASE_ACK = "release:ack"


def operator_of_request(request):
    token = getattr(request, "auth", None)
    application = getattr(token, "application", None)
    client = getattr(application, "operator_client", None) if application else None
    if client is None or not client.active:
        return None
    return client.operator


class IsOperatorClient(BasePermission):
    message = "this token does not belong to an active operator client"

    def has_permission(self, request, view) -> bool:
        return operator_of_request(request) is not None


class OperatorTokenHasScope(TokenHasScope):
    """Like TokenHasScope, and an endpoint with no required scope accepts any live token."""
