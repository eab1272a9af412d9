"""OpenAPI (drf-spectacular): the operator API's OAuth2 client-credentials scheme and scopes."""

from __future__ import annotations

from drf_spectacular.contrib.django_oauth_toolkit import DjangoOAuthToolkitScheme
from drf_spectacular.extensions import OpenApiSerializerExtension


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
                "tokenUrl": f"{public_base_url()}/o/token/",
                "scopes": get_scopes_backend().get_all_scopes()}},
        }


class StrictSerializerScheme(OpenApiSerializerExtension):
    """Strict request bodies (transfers.serializers.StrictSerializer) refuse unknown keys:
    the schema says `additionalProperties: false`, so a generated client never sends one."""

    target_class = "transfers.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = False
        return schema


def public_base_url() -> str:
    """The service's public address (settings.PUBLIC_BASE_URL), without a trailing slash."""
    from django.conf import settings

    return str(getattr(settings, "PUBLIC_BASE_URL", "http://127.0.0.1:8000")).rstrip("/")


def servers_declared(result, generator, request, public):
    """drf-spectacular's postprocessing hook: the schema names the service's address, so a
    generated client has a default base URL and the token URL above resolves against it."""
    result["servers"] = [{"url": public_base_url(),
                          "description": "this service (PUBLIC_BASE_URL)"}]
    return result


def raw_bodies_required(result, generator, request, public):
    """drf-spectacular's postprocessing hook: a batch PUT must carry a non-empty body
    (400 empty_batch without one), which spectacular cannot infer for a raw NDJSON/CSV body."""
    raw = {"application/x-ndjson", "text/csv"}
    for path in result.get("paths", {}).values():
        body = path.get("put", {}).get("requestBody")
        if body and set(body.get("content", {})) & raw:
            body["required"] = True
            for media in raw & set(body["content"]):
                body["content"][media].setdefault("schema", {})["minLength"] = 1
    return result
