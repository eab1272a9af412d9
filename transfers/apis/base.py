"""The operator API's shared ground: `OperatorApi` (token, scope, the audit event of every
call, the 404 of what the caller may not see), the error responses and paging parameters
the schema declares, query-parameter parsing, and the JSON 404 of no endpoint."""

from __future__ import annotations

import hashlib
import re
import uuid

from django.db import transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import UnsupportedMediaType as DrfUnsupportedMediaType
from rest_framework.views import APIView

from audit.services import audit_event, looks_personal
from governance.models import TransferPlan
from transfers.authentication import OperatorOAuth2Authentication
from transfers.errors import operator_api_exception_handler
from transfers.models import Release, Upload
from transfers.parsers import BoundedJSONParser
from transfers.permissions import IsOperatorClient, OperatorTokenHasScope, operator_of_request
from transfers.selectors import plan_get_for, release_get_for, upload_get_for
from transfers.serializers import ErrorSerializer
from transfers.services import TransferError, operator_actor

ERROR = ErrorSerializer
E400 = OpenApiResponse(ERROR, description="the request is malformed: `error` names what "
                                          "(invalid_request with `fields`, parse_error, ...)")
E401 = OpenApiResponse(ERROR, description="no or expired token")
E403 = OpenApiResponse(ERROR, description="the token lacks the scope this endpoint needs")
E404 = OpenApiResponse(ERROR, description="no such plan/upload/release for this operator "
                                          "(another operator's plans answer 404 too)")
E415 = OpenApiResponse(ERROR, description="the body is not JSON (send application/json)")


# Paging parameters, with the bounds the views enforce, so a generated client (and
# schemathesis) knows a limit of 0 or an id past 18 digits is refused before sending it.
LIMIT_PARAMETER = OpenApiParameter(
    "limit", {"type": "integer", "minimum": 1, "maximum": 1000}, description="1-1000, default 500")
AFTER_PARAMETER = OpenApiParameter(
    "after", {"type": "integer", "minimum": 0, "maximum": 999_999_999_999_999_999},
    description="last id seen (default 0)")


BATCH_ID_PARAMETER = OpenApiParameter(
    "batch_id", {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"},
    OpenApiParameter.PATH, description="the operator's name for the batch (a sequence number; "
    "one that looks like a phone, business or resident number is refused)")
CHUNK_PARAMETER = OpenApiParameter(
    "n", {"type": "integer", "minimum": 1, "maximum": 999_999}, OpenApiParameter.PATH,
    description="the chunk's 1-based position (the manifest's `chunks[n-1]`)")


class OperatorApi(APIView):
    """Needs an OAuth2 bearer token (client credentials) of an active operator client, with
    the scope listed under security. A plan, upload or release of another operator answers
    404, exactly like one that does not exist. Every call is recorded in the audit trail.
    Errors are JSON: `{"error": code, "detail": message}` (transfers.errors)."""

    authentication_classes = [OperatorOAuth2Authentication]
    permission_classes = [IsOperatorClient, OperatorTokenHasScope]
    parser_classes = [BoundedJSONParser]
    required_scopes: list[str] = []
    audit_action = "api.call"

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.operator = operator_of_request(request)
        self.actor = operator_actor(self.operator)

    def get_exception_handler(self):
        return operator_api_exception_handler

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        operator = operator_of_request(request) if getattr(request, "auth", None) else None
        if operator is not None:
            with transaction.atomic():
                endpoint = getattr(request.resolver_match, "url_name", None) or "unknown"
                audit_event(by=operator_actor(operator), action=self.audit_action,
                            target=("transfers.api", endpoint),
                            details={"method": request.method, "status": response.status_code,
                                     "args": _audit_args(kwargs)})
        return response

    def valid_input(self, request, serializer_class) -> dict:
        """The JSON body checked by ``serializer_class`` (400 with the reasons otherwise).

        A body sent without a content type would reach DRF as empty data and be taken as
        "nothing declared": refuse it (415) instead of guessing."""
        media = (request.content_type or "").split(";")[0].strip().lower()
        if _declared_length(request) > 0 and media != "application/json":
            # Django may have read a form or multipart body before DRF (the token check
            # looks at request.POST), and DRF then sees empty data: refuse, don't guess.
            raise DrfUnsupportedMediaType(media or "", detail="send the body as application/json")
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    # --- what this operator may see (selectors; 404 otherwise) ------------------------------

    def plan_as_source(self, plan_id: int) -> TransferPlan:
        return found(plan_get_for(operator=self.operator, plan_id=plan_id, role="source"),
                      "plan")

    def plan_as_recipient(self, plan_id: int) -> TransferPlan:
        return found(plan_get_for(operator=self.operator, plan_id=plan_id, role="recipient"),
                      "plan")

    def upload_of(self, upload_id) -> Upload:
        return found(upload_get_for(operator=self.operator, upload_id=upload_id), "upload")

    def release_of(self, release_id) -> Release:
        return found(release_get_for(operator=self.operator, release_id=release_id), "release")

    def ready_release_of(self, release_id) -> Release:
        release = self.release_of(release_id)
        if release.status != Release.Status.READY:
            raise NotFound("the release is not ready")
        return release


def found(obj, what: str):
    if obj is None:
        raise NotFound(f"no such {what} for this operator")
    return obj


def _audit_args(kwargs: dict) -> dict:
    """The URL arguments as the audit event keeps them: ids and UUIDs as they are (the URL
    converters checked them), any other text, and an id whose digits spell a phone number
    (821012345678), only as a hash: a caller cannot write a personal value or a NUL into the
    permanent log through a path segment."""
    kept: dict = {}
    for key, value in kwargs.items():
        if isinstance(value, int | uuid.UUID) and not looks_personal(str(value)):
            kept[key] = value if isinstance(value, int) else str(value)
        else:
            kept[f"{key}_sha256"] = hashlib.sha256(str(value).encode("utf-8", "replace")
                                                   ).hexdigest()[:16]
    return kept


def _declared_length(request) -> int:
    raw = request.META.get("CONTENT_LENGTH") or "0"
    return int(raw) if re.fullmatch(r"[0-9]{1,18}", raw) else 0


def query_int(request, name: str, default: int) -> int:
    """A whole-number query parameter in 0..2**63-1 (what the database's ids can hold);
    otherwise 400 `invalid_<name>`."""
    if len(request.query_params.getlist(name)) > 1:
        raise TransferError(f"{name} given more than once", code=f"invalid_{name}")
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    if not re.fullmatch(r"[0-9]{1,18}", raw):
        raise TransferError(f"{name} must be a whole number from 0 to 18 digits",
                            code=f"invalid_{name}")
    return int(raw)


def query_limit(request) -> int:
    limit = query_int(request, "limit", 500)
    if not 1 <= limit <= 1000:
        raise TransferError("limit: 1-1000", code="invalid_limit")
    return limit


@csrf_exempt  # a POST to no endpoint is a JSON 404 too, not the CSRF page
def api_not_found(request, *args, **kwargs):
    """No endpoint at this address: the API's JSON error, not Django's HTML page."""
    return JsonResponse({"error": "not_found",
                         "detail": "no such endpoint: see /api/docs/ for the operator API"},
                        status=404)
