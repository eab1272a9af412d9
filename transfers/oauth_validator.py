"""Only a live operator client gets a token from /o/token/, or has one accepted.

django-oauth-toolkit asks ``Application.is_usable()`` whether a client may authenticate and
whether its tokens still count; overriding that means swapping DOT's Application model (a
migration of every OAuth table). Its other extension point is the validator class
(``OAUTH2_PROVIDER["OAUTH2_VALIDATOR_CLASS"]``): this one applies the same rule at the same
two places, with "usable" meaning an :class:`~transfers.models.OperatorClient` that is still
active. An application with no operator client (one made by hand in DOT's admin, outside the
audited service) is refused too: the operator API serves operators only.
"""

from __future__ import annotations

from oauth2_provider.oauth2_validators import OAuth2Validator

from transfers.models import OperatorClient


def is_live_operator_client(application) -> bool:
    try:
        return application.operator_client.active
    except OperatorClient.DoesNotExist:
        return False


class OperatorClientOAuth2Validator(OAuth2Validator):
    # The token, revoke-token and introspection endpoints authenticate clients here; a
    # refused client gets 401 invalid_client.
    def authenticate_client(self, request, *args, **kwargs) -> bool:
        return (super().authenticate_client(request, *args, **kwargs)
                and is_live_operator_client(request.client))

    def authenticate_client_id(self, client_id, request, *args, **kwargs) -> bool:
        return (super().authenticate_client_id(client_id, request, *args, **kwargs)
                and is_live_operator_client(request.client))

    def validate_bearer_token(self, token, scopes, request) -> bool:
        """Also refuse a token of a revoked client: one issued while the revocation was
        committing survives its deletion of the client's tokens."""
        if not super().validate_bearer_token(token, scopes, request):
            return False
        if is_live_operator_client(request.client):
            return True
        request.oauth2_error = {"error": "invalid_token",
                                "error_description": "The access token's client is revoked."}
        return False
