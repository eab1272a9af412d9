"""OAuth2 clients of operators (django-oauth-toolkit applications, client credentials)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from oauth2_provider.generators import generate_client_id, generate_client_secret
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_refresh_token_model,
)

from audit.services import audit_event
from governance.models import Operator
from transfers.models import OperatorClient
from transfers.services.common import SYSTEM, Conflict


@dataclass
class NewClient:
    client: OperatorClient
    client_id: str
    client_secret: str  # shown once; only its hash is stored


@transaction.atomic
def operator_client_create(*, operator: Operator, by: tuple[str, str] | None,
                           webhook_url: str = "") -> NewClient:
    """A new confidential client-credentials client for ``operator``. The secret is returned
    once and stored only as a hash (django-oauth-toolkit's ``hash_client_secret``)."""
    if operator.role == Operator.Role.CONTROLLER and operator.code == "SEOUL":
        raise Conflict("the city uses the admin, not the operator API")
    application_model = get_application_model()
    client_id, secret = generate_client_id(), generate_client_secret()
    application = application_model.objects.create(
        name=f"{operator.code} operator API", client_id=client_id, client_secret=secret,
        client_type=application_model.CLIENT_CONFIDENTIAL,
        authorization_grant_type=application_model.GRANT_CLIENT_CREDENTIALS,
        hash_client_secret=True, redirect_uris="", user=None)
    client = OperatorClient.objects.create(application=application, operator=operator,
                                           webhook_url=webhook_url)
    audit_event(by=by or SYSTEM, action="api_client.created", target=client,
                details={"operator": operator.code, "client_id": client_id})
    return NewClient(client, client_id, secret)


@transaction.atomic
def operator_client_revoke(*, client: OperatorClient, by: tuple[str, str] | None) -> OperatorClient:
    """Disable the client and drop its live tokens, audited, in one transaction.

    From the commit on, /o/token/ refuses the client and any token it still holds (the
    validator, transfers.oauth_validator, reads ``active``). Revoking a revoked client
    changes nothing and records nothing: the conditional update settles two officers
    revoking at once.
    """
    if OperatorClient.objects.filter(pk=client.pk, active=True).update(active=False):
        _tokens_drop(client.application)
        audit_event(by=by or SYSTEM, action="api_client.revoked", target=client,
                    details={"operator": client.operator.code})
    client.refresh_from_db(fields=["active"])
    return client


def _tokens_drop(application) -> None:
    # Client credentials issue no refresh tokens, and the validator refuses a revoked client
    # at every endpoint; drop any all the same, so that a revoked client holds no credential.
    get_access_token_model().objects.filter(application=application).delete()
    get_refresh_token_model().objects.filter(application=application).delete()
