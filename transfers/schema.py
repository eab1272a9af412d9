"""OpenAPI (drf-spectacular): the operator API's OAuth2 client-credentials scheme and scopes."""

from __future__ import annotations

from drf_spectacular.contrib.django_oauth_toolkit import DjangoOAuthToolkitScheme


class OperatorOAuth2Scheme(DjangoOAuthToolkitScheme):
    target_class = "transfers.authentication.OperatorOAuth2Authentication"
    name = "operatorOAuth2"

    def get_security_definition(self, auto_schema):
        from oauth2_provider.scopes import get_scopes_backend

        return {
            "type": "oauth2",
            "description": "Client credentials of the operator's API client (one per "
                           "operator; `manage.py operator_client create`). Tokens are "
                           "short-lived; ask only for the scopes the job needs.",
            "flows": {"clientCredentials": {
                "tokenUrl": "/o/token/", "scopes": get_scopes_backend().get_all_scopes()}},
        }
