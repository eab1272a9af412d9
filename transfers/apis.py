"""The operator API (OAuth2 client credentials). Views speak HTTP only: they find what the
caller may see with a selector (`…_get_for(operator=…)`, else 404), call one service or
selector, and shape the answer with a serializer (transfers.serializers), so the OpenAPI
schema types every body. Refusals become JSON in one place (transfers.errors). GETs write
nothing but the audit and access logs. Every authenticated call is recorded as an audit event
(actor ``operator:<CODE>``)."""

from __future__ import annotations

import hashlib
import re
import uuid

from django.conf import settings
from django.db import transaction
from django.http import FileResponse, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import UnsupportedMediaType as DrfUnsupportedMediaType
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import audit_record, looks_personal
from audit.signing import service_key_id, service_public_key_b64
from governance.models import TransferPlan
from governance.selectors import plan_rules
from officers.access import access_record, client_address
from transfers import format as fmt
from transfers.authentication import OperatorOAuth2Authentication
from transfers.errors import operator_api_exception_handler
from transfers.models import Release, Upload, UploadBatch
from transfers.parsers import BoundedJSONParser
from transfers.permissions import (
    SCOPE_RELEASE_ACK,
    SCOPE_RELEASE_READ,
    SCOPE_UPLOAD,
    IsOperatorClient,
    OperatorTokenHasScope,
    operator_of_request,
)
from transfers.selectors import (
    batch_get_for,
    deletion_feed,
    deletion_notice_get_for,
    latest_acknowledgement,
    notices_unreached,
    plan_corrections,
    plan_get_for,
    plans_visible_to,
    release_get_for,
    release_records_page,
    releases_of,
    upload_get_for,
    upload_totals,
)
from transfers.serializers import (
    AcknowledgementInputSerializer,
    AcknowledgementOutputSerializer,
    ApplyReportInputSerializer,
    ApplyReportOutputSerializer,
    BatchReportSerializer,
    CorrectionPageSerializer,
    DeletionConfirmedSerializer,
    DeletionFeedSerializer,
    ErrorSerializer,
    ManifestSerializer,
    NoticeAttestationInputSerializer,
    NoticeAttestationOutputSerializer,
    PlanListSerializer,
    PlanSerializer,
    ReleaseListSerializer,
    ReleaseRecordsPageSerializer,
    ReleaseSerializer,
    ServiceKeySerializer,
    UnreachedPageSerializer,
    UploadSerializer,
    UploadTotalsInputSerializer,
)
from transfers.services import (
    LengthRequired,
    PayloadTooLarge,
    TransferError,
    acknowledgement_receive,
    apply_report_receive,
    batch_id_check,
    deletion_confirm,
    notice_attestation_receive,
    operator_actor,
    release_path,
    release_request,
    upload_batch_receive,
    upload_complete,
    upload_create,
)

ERROR = ErrorSerializer
E400 = OpenApiResponse(ERROR, description="the request is malformed: `error` names what "
                                          "(invalid_request with `fields`, parse_error, ...)")
E401 = OpenApiResponse(ERROR, description="no or expired token")
E403 = OpenApiResponse(ERROR, description="the token lacks the scope this endpoint needs")
E404 = OpenApiResponse(ERROR, description="no such plan/upload/release for this operator "
                                          "(another operator's plans answer 404 too)")
E415 = OpenApiResponse(ERROR, description="the body is not JSON (send application/json)")


def _max_batch_bytes() -> int:
    return int(getattr(settings, "TRANSFERS_MAX_BATCH_BYTES", 64 * 1024 * 1024))


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
                audit_record(
                    actor_type="operator", actor_id=f"operator:{operator.code}",
                    action=self.audit_action, target_type="api",
                    target_id=request.resolver_match.url_name if request.resolver_match
                    else "unknown",
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
        return _found(plan_get_for(operator=self.operator, plan_id=plan_id, role="source"),
                      "plan")

    def plan_as_recipient(self, plan_id: int) -> TransferPlan:
        return _found(plan_get_for(operator=self.operator, plan_id=plan_id, role="recipient"),
                      "plan")

    def upload_of(self, upload_id) -> Upload:
        return _found(upload_get_for(operator=self.operator, upload_id=upload_id), "upload")

    def release_of(self, release_id) -> Release:
        return _found(release_get_for(operator=self.operator, release_id=release_id), "release")

    def ready_release_of(self, release_id) -> Release:
        release = self.release_of(release_id)
        if release.status != Release.Status.READY:
            raise NotFound("the release is not ready")
        return release


def _found(obj, what: str):
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


def _int_param(request, name: str, default: int) -> int:
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


def _limit(request) -> int:
    limit = _int_param(request, "limit", 500)
    if not 1 <= limit <= 1000:
        raise TransferError("limit: 1-1000", code="invalid_limit")
    return limit


# --- Public key, plans -------------------------------------------------------------------------


class ServiceKeyApi(APIView):
    """The service's Ed25519 public key, which signs release manifests (public)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    OutputSerializer = ServiceKeySerializer

    def get_exception_handler(self):
        return operator_api_exception_handler

    @extend_schema(
        operation_id="service_key",
        summary="The service's manifest-signing public key (no token needed)",
        description="Pin it: compare it with the key the city gave you out of band before "
                    "trusting a manifest signature.",
        responses={200: OutputSerializer},
        examples=[OpenApiExample("key", response_only=True, value={
            "algorithm": "Ed25519", "key_id": "9c1e4b2a7d3f8e60",
            "public_key": "MCowBQYDK2VwAyEA1111111111111111111111111111111111111111="})])
    def get(self, request):
        return Response(self.OutputSerializer({
            "algorithm": "Ed25519", "key_id": service_key_id(),
            "public_key": service_public_key_b64()}).data)


def _plan_data(plan: TransferPlan, operator) -> dict:
    fields: dict[str, list] = {"merchant": [], "user": []}
    for rule in plan_rules(plan):
        fields.setdefault(rule.field.subject_kind, []).append(
            {"key": rule.field.key, "label": rule.field.label_ko,
             "data_type": rule.field.data_type, "basis": rule.basis})
    return {"id": plan.pk, "lineage": plan.lineage, "version": plan.version,
            "title": plan.title, "status": plan.status, "rehearsal": plan.rehearsal,
            "from": plan.from_operator.code, "to": plan.to_operator.code,
            "role": "source" if plan.from_operator_id == operator.pk else "recipient",
            "cutover_at": plan.cutover_at, "fields": fields}


PLAN_EXAMPLE = {
    "id": 7, "lineage": "2f1d6c9e-8a41-4a51-9f0e-2b7f5b1c3d4e", "version": 1,
    "title": "서울사랑상품권 운영대행사 변경", "status": "approved", "rehearsal": False,
    "from": "KEPF", "to": "SHINHAN", "role": "recipient", "cutover_at": None,
    "fields": {"merchant": [{"key": "merchant.shop_name", "label": "상호",
                             "data_type": "string", "basis": "contract"}], "user": []}}


class PlanListApi(OperatorApi):
    OutputSerializer = PlanListSerializer

    @extend_schema(
        operation_id="plans_list",
        summary="Plans where this operator is the source or the recipient",
        description="Any live token. Drafts and plans awaiting approval are not listed; "
                    "`role` says which side the caller is on. Errors: 401.",
        responses={200: OutputSerializer, 401: E401},
        examples=[OpenApiExample("plans", response_only=True, value={"plans": [PLAN_EXAMPLE]})])
    def get(self, request):
        plans = [_plan_data(p, self.operator) for p in plans_visible_to(self.operator)]
        return Response(self.OutputSerializer({"plans": plans}).data)


class PlanDetailApi(OperatorApi):
    OutputSerializer = PlanSerializer

    @extend_schema(
        operation_id="plans_retrieve",
        summary="One plan with its fields per subject kind (the upload schema)",
        description="Any live token of the plan's source or recipient. Errors: 401, 404.",
        responses={200: OutputSerializer, 401: E401, 404: E404},
        examples=[OpenApiExample("plan", response_only=True, value=PLAN_EXAMPLE)])
    def get(self, request, plan_id: int):
        plan = _found(plan_get_for(operator=self.operator, plan_id=plan_id), "plan")
        return Response(self.OutputSerializer(_plan_data(plan, self.operator)).data)


# --- Upload ---------------------------------------------------------------------------------

def _upload_data(upload: Upload) -> dict:
    totals = upload_totals(upload)
    return {"id": upload.public_id, "plan": upload.plan_id, "status": upload.status,
            "accepted": upload.accepted_count, "rejected": upload.rejected_count,
            "declared_totals": totals["declared"], "accepted_totals": totals["accepted"],
            "totals_match": totals["matches"], "mismatches": totals["mismatches"],
            "batches": list(upload.batches.values_list("batch_id", flat=True))}


def _batch_data(batch: UploadBatch, replayed: bool = False) -> dict:
    return {"batch_id": batch.batch_id, "sha256": batch.content_sha256,
            "lines": batch.line_count, "accepted": batch.accepted_count,
            "rejected": batch.rejected_count, "rejections": batch.rejections,
            "corrected": batch.corrected_count, "replayed": replayed}


class UploadCreateApi(OperatorApi):
    required_scopes = [SCOPE_UPLOAD]
    InputSerializer = UploadTotalsInputSerializer
    OutputSerializer = UploadSerializer

    @extend_schema(
        operation_id="uploads_create",
        summary="Start an upload for a plan where this operator is the source",
        description="Scope `upload`, the plan's source only. `declared_totals` (optional "
                    "here, or at completion) are the source's own control totals. Errors: "
                    "400 invalid_request, 409 plan_not_in_force, 415.",
        request=InputSerializer,
        responses={201: OutputSerializer, 400: E400, 401: E401, 403: E403, 404: E404,
                   409: OpenApiResponse(ERROR, description="plan_not_in_force: the plan is "
                                                           "not approved"),
                   415: E415},
        examples=[OpenApiExample("declared", request_only=True, value={"declared_totals": {
            "subjects": {"merchant": 270000, "user": 2060000},
            "certificate_balance_sum": 342800000000}})])
    def post(self, request, plan_id: int):
        plan = self.plan_as_source(plan_id)
        data = self.valid_input(request, self.InputSerializer)
        upload = upload_create(plan=plan, by=self.actor,
                               declared_totals=data.get("declared_totals"))
        return Response(self.OutputSerializer(_upload_data(upload)).data,
                        status=status.HTTP_201_CREATED)


class UploadDetailApi(OperatorApi):
    required_scopes = [SCOPE_UPLOAD]
    OutputSerializer = UploadSerializer

    @extend_schema(operation_id="uploads_retrieve",
                   summary="An upload's status and its declared vs accepted totals",
                   description="Scope `upload`, the source that made it. Errors: 401, 403, "
                               "404.",
                   responses={200: OutputSerializer, 401: E401, 403: E403, 404: E404})
    def get(self, request, upload_id):
        return Response(self.OutputSerializer(_upload_data(self.upload_of(upload_id))).data)


class UploadCompleteApi(OperatorApi):
    required_scopes = [SCOPE_UPLOAD]
    InputSerializer = UploadTotalsInputSerializer
    OutputSerializer = UploadSerializer

    @extend_schema(
        operation_id="uploads_complete",
        summary="Close an upload, optionally declaring the control totals now",
        description="Scope `upload`. Completing twice is harmless; with other declared "
                    "totals than the first time: 409. Errors: 400, 409 conflict, 415.",
        request=InputSerializer,
        responses={200: OutputSerializer, 400: E400, 401: E401, 403: E403, 404: E404,
                   409: OpenApiResponse(ERROR, description="already complete with other "
                                                           "declared totals"),
                   415: E415})
    def post(self, request, upload_id):
        upload = self.upload_of(upload_id)
        data = self.valid_input(request, self.InputSerializer)
        upload = upload_complete(upload=upload, by=self.actor,
                                 declared_totals=data.get("declared_totals"))
        return Response(self.OutputSerializer(_upload_data(upload)).data)


class BatchApi(OperatorApi):
    """PUT a batch (NDJSON or CSV body); GET its report again."""

    required_scopes = [SCOPE_UPLOAD]
    parser_classes: list = []  # the body is read raw, never parsed by DRF
    OutputSerializer = BatchReportSerializer

    @extend_schema(
        operation_id="batches_send",
        summary="Send one batch of records (idempotent per batch id)",
        description=(
            "Scope `upload`. Body: `application/x-ndjson` (one flat JSON object per line: "
            "`kind`, `external_id` and the plan's field keys) or `text/csv` (header: the same "
            "names), sent whole with a Content-Length. Generated clients cannot type this "
            "raw body: send it with the generated client's HTTP client (docs/api.md, \"The "
            "raw upload body\"). Every row is validated; the answer names every rejected row "
            "(line, field, code, message; never the value). A QR merchant id another subject "
            "of this operator already holds is refused (qr_id_taken). A row for a subject "
            "with an open correction request (`GET /api/plans/{plan}/corrections`) replaces "
            "its record and is counted in `corrected`. Re-sending the same batch id with the "
            "same body returns the same report and changes nothing; with another body: 409."),
        request={"application/x-ndjson": OpenApiTypes.BINARY, "text/csv": OpenApiTypes.BINARY},
        responses={201: OpenApiResponse(OutputSerializer, description="the report"),
                   200: OpenApiResponse(OutputSerializer,
                                        description="replayed: the first report"),
                   400: OpenApiResponse(ERROR, description=(
                       "invalid_batch_id (the shape, or it looks like a phone, business or "
                       "resident number), invalid_content_length, empty_batch")),
                   401: E401, 403: E403, 404: E404,
                   409: OpenApiResponse(ERROR, description="batch_id_reused for other "
                                        "content, or upload_complete"),
                   411: OpenApiResponse(ERROR, description="a chunked body without "
                                        "Content-Length: send the batch whole"),
                   413: OpenApiResponse(ERROR, description="body too large"),
                   415: OpenApiResponse(ERROR, description="not NDJSON or CSV")},
        parameters=[BATCH_ID_PARAMETER],
        examples=[OpenApiExample("NDJSON row", request_only=True, value={
            "kind": "user", "external_id": "U-000001", "user.phone": "010-0000-0001",
            "user.certificate_balance": 50000})])
    def put(self, request, upload_id, batch_id: str):
        upload = self.upload_of(upload_id)
        batch_id_check(batch_id)
        body = _read_body(request, _max_batch_bytes())
        result = upload_batch_receive(upload=upload, batch_id=batch_id, body=body,
                                      content_type=request.content_type, by=self.actor)
        return Response(self.OutputSerializer(_batch_data(result.batch, result.replayed)).data,
                        status=status.HTTP_200_OK if result.replayed else
                        status.HTTP_201_CREATED)

    @extend_schema(operation_id="batches_retrieve", summary="The report of a batch",
                   description="Scope `upload`. Errors: 400 invalid_batch_id, 404.",
                   parameters=[BATCH_ID_PARAMETER],
                   responses={200: OutputSerializer,
                              400: OpenApiResponse(ERROR, description="invalid_batch_id"),
                              401: E401, 403: E403, 404: E404})
    def get(self, request, upload_id, batch_id: str):
        upload = self.upload_of(upload_id)
        batch_id_check(batch_id)
        batch = _found(batch_get_for(upload=upload, batch_id=batch_id), "batch")
        return Response(self.OutputSerializer(_batch_data(batch)).data)


def _read_body(request, limit: int) -> bytes:
    """The whole batch body, exactly Content-Length bytes. Without a valid length Django
    reads nothing, and an empty batch would be stored under the batch id: refuse instead."""
    raw = request.META.get("CONTENT_LENGTH")
    if raw in (None, "") and request.META.get("HTTP_TRANSFER_ENCODING"):
        raise LengthRequired("send a Content-Length header (the batch whole, not chunked)")
    if raw in (None, ""):
        raise TransferError("the request has no body: send the batch", code="empty_batch")
    if not re.fullmatch(r"[0-9]{1,18}", raw):
        raise TransferError("Content-Length must be a whole number of bytes",
                            code="invalid_content_length")
    declared = int(raw)
    if declared > limit:
        raise PayloadTooLarge(f"a batch is at most {limit} bytes: split it")
    body = request._request.read(declared)
    if len(body) != declared:
        raise TransferError(f"the body ended after {len(body)} of {declared} bytes",
                            code="invalid_content_length")
    return body


# --- Release ---------------------------------------------------------------------------------


def _release_data(release: Release, request) -> dict:
    ack = latest_acknowledgement(release)
    links: dict = {}
    if release.status == Release.Status.READY:
        def url(suffix: str) -> str:
            return request.build_absolute_uri(f"/api/releases/{release.public_id}/{suffix}")

        links = {"manifest": url("manifest.json"), "signature": url("manifest.sig"),
                 "chunks": [url(f"chunks/{n}") for n in range(1, release.chunk_count + 1)],
                 "records": url("records"), "acknowledgements": url("acknowledgements"),
                 "apply_reports": url("apply-reports")}
    return {"id": release.public_id, "plan": release.plan_id, "number": release.number,
            "status": release.status, "rehearsal": release.rehearsal,
            "as_of": release.as_of, "records": release.record_count,
            "chunks": release.chunk_count, "manifest_sha256": release.manifest_sha256,
            "recipient_key_id": release.recipient_key.key_id,
            "suite": fmt.suite_name(bytes(release.recipient_key.public_key)),
            "links": links,
            "acknowledged": None if ack is None else {"matches": ack.matches,
                                                     "mismatches": ack.mismatches,
                                                     "received_at": ack.received_at}}


class ReleaseListApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_READ]
    OutputSerializer = ReleaseListSerializer

    @extend_schema(operation_id="releases_list",
                   summary="Releases of a plan addressed to this operator",
                   description="Scope `release:read`, the plan's recipient only. Newest "
                               "first. Errors: 401, 403, 404.",
                   responses={200: OutputSerializer, 401: E401, 403: E403, 404: E404})
    def get(self, request, plan_id: int):
        plan = self.plan_as_recipient(plan_id)
        return Response(self.OutputSerializer(
            {"releases": [_release_data(r, request) for r in releases_of(plan)]}).data)

    @extend_schema(
        operation_id="releases_request",
        summary="Ask for the next (incremental) release; an export job builds it",
        description="Scope `release:read`, the plan's recipient. While one is being built, "
                    "asking again answers that one. Poll `GET /api/releases/{id}` until "
                    "`status` is `ready`. Errors: 409 plan_not_in_force, no_key.",
        request=None,
        responses={202: OpenApiResponse(ReleaseSerializer, description="queued or already "
                                        "being built: poll the release"),
                   401: E401, 403: E403, 404: E404,
                   409: OpenApiResponse(ERROR, description="plan_not_in_force, no_key")})
    def post(self, request, plan_id: int):
        plan = self.plan_as_recipient(plan_id)
        release = release_request(plan=plan, by=self.actor)
        release.refresh_from_db()
        return Response(ReleaseSerializer(_release_data(release, request)).data,
                        status=status.HTTP_202_ACCEPTED)


class ReleaseDetailApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_READ]
    OutputSerializer = ReleaseSerializer

    @extend_schema(operation_id="releases_retrieve", summary="A release's status and links",
                   description="Scope `release:read`, the recipient. `links` (absolute URLs) "
                               "appear once the release is ready. Errors: 401, 403, 404.",
                   responses={200: OutputSerializer, 401: E401, 403: E403, 404: E404})
    def get(self, request, release_id):
        return Response(self.OutputSerializer(
            _release_data(self.release_of(release_id), request)).data)


class ReleaseManifestApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_READ]

    @extend_schema(
        operation_id="releases_manifest",
        summary="manifest.json of a ready release, byte for byte as signed",
        description="Scope `release:read`. Served as `application/json`, exactly the bytes "
                    "`manifest.sig` signs (sorted keys, no spaces, UTF-8). Verify the "
                    "signature over the **response body's bytes**, never over a parsed and "
                    "re-serialised object (a generated client's `response.content`). The "
                    "schema below documents the fields (docs/release-format.md). Errors: 404 "
                    "(not ready, or not yours).",
        responses={200: OpenApiResponse(ManifestSerializer, description="the exact bytes"),
                   401: E401, 403: E403, 404: E404})
    def get(self, request, release_id):
        release = self.ready_release_of(release_id)
        return HttpResponse(bytes(release.manifest), content_type="application/json")


class ReleaseSignatureApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_READ]

    @extend_schema(
        operation_id="releases_signature",
        summary="manifest.sig: the 64-byte Ed25519 signature over manifest.json",
        description="Scope `release:read`. Raw bytes (not base64); verify with the key of "
                    "`GET /api/service-key`. Errors: 404.",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                   401: E401, 403: E403, 404: E404})
    def get(self, request, release_id):
        release = self.ready_release_of(release_id)
        return HttpResponse(bytes(release.signature), content_type="application/octet-stream")


class ReleaseChunkApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_READ]

    @extend_schema(
        operation_id="releases_chunk",
        summary="Chunk n of a ready release (HPKE-encrypted NDJSON)",
        description="Scope `release:read`. `enc || ciphertext` (docs/release-format.md); "
                    "check its SHA-256 and `info` from the manifest before decrypting. Also "
                    "served under the manifest's file name (`chunks/000001.bin`). Errors: "
                    "404 (no such chunk, not ready, not yours).",
        parameters=[CHUNK_PARAMETER],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                   401: E401, 403: E403, 404: E404})
    def get(self, request, release_id, n: int):
        return _chunk_response(self.ready_release_of(release_id), n)


class ReleaseChunkFileApi(OperatorApi):
    """The chunk under its manifest file name (chunks/000001.bin), for readers that follow
    the manifest's `file`; the schema documents `chunks/{n}` only."""

    required_scopes = [SCOPE_RELEASE_READ]

    @extend_schema(exclude=True)
    def get(self, request, release_id, name: str):
        return _chunk_response(self.ready_release_of(release_id), int(name))


def _chunk_response(release: Release, n: int):
    if not 1 <= n <= release.chunk_count:
        raise NotFound("no such chunk in this release")
    path = release_path(release) / fmt.chunk_name(n)
    if not path.is_file():
        raise NotFound("the file is missing on the server")
    return FileResponse(path.open("rb"), content_type="application/octet-stream")


class ReleaseRecordsApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_READ]
    OutputSerializer = ReleaseRecordsPageSerializer

    @extend_schema(
        operation_id="releases_records",
        summary="A release's records as JSON pages (small pulls)",
        description="Scope `release:read`. Cursor pagination in subject order. Each field is "
                    "checked against the policy again at the time of the call: fields denied "
                    "since the release was built are withheld (and counted in `withheld`). "
                    "Each page is written to the access log. Errors: 400 invalid_cursor, "
                    "invalid_limit; 404.",
        parameters=[OpenApiParameter("cursor", {"type": "string", "pattern": "^[0-9]{0,18}$"},
                                     description="from `next_cursor` (empty or absent: "
                                                 "from the start)"),
                    LIMIT_PARAMETER],
        responses={200: OutputSerializer,
                   400: OpenApiResponse(ERROR, description="invalid_cursor, invalid_limit"),
                   401: E401, 403: E403, 404: E404})
    def get(self, request, release_id):
        release = self.ready_release_of(release_id)
        after, limit = _int_param(request, "cursor", 0), _limit(request)
        records, cursor, withheld = release_records_page(release, after=after, limit=limit)
        # The access log (officers): whose values this page decrypted, for which recipient.
        access_record(by=self.actor, address=client_address(request), action="decrypt",
                      subjects=[r["subject"] for r in records],
                      fields={key for r in records for key in r["fields"]},
                      target_type="release", target_id=str(release.public_id),
                      extra={"cursor": after})
        return Response(self.OutputSerializer({
            "release": release.public_id, "records": records,
            "next_cursor": None if cursor is None else str(cursor), "withheld": withheld}).data)


class AcknowledgementApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_ACK]
    InputSerializer = AcknowledgementInputSerializer
    OutputSerializer = AcknowledgementOutputSerializer

    @extend_schema(
        operation_id="releases_acknowledge",
        summary="Acknowledge a release with the recipient's own totals, signed",
        description=(
            "Scope `release:ack`. `payload` is base64 of the exact JSON bytes signed with the "
            "recipient's registered Ed25519 key: `{release, manifest_sha256, nonce, signed_at, "
            "totals: {records, subjects, fields, certificate_balance_sum}}`. Refused: bad "
            "signature (400 bad_signature), another release (400 wrong_release), signed_at "
            "older than 15 minutes (400 stale_acknowledgement), a malformed payload (400 "
            "invalid_acknowledgement), a nonce seen before (409 replayed), not ready (409 "
            "release_not_ready), no signature key (409 no_key)."),
        request=InputSerializer,
        responses={201: OutputSerializer,
                   400: OpenApiResponse(ERROR, description="bad_signature, wrong_release, "
                                        "stale_acknowledgement, invalid_acknowledgement, "
                                        "invalid_request"),
                   401: E401, 403: E403, 404: E404,
                   409: OpenApiResponse(ERROR, description="replayed, release_not_ready, "
                                                           "no_key"),
                   415: E415})
    def post(self, request, release_id):
        release = self.release_of(release_id)
        data = self.valid_input(request, self.InputSerializer)
        ack = acknowledgement_receive(release=release, payload_b64=data.get("payload"),
                                      signature_b64=data.get("signature"), by=self.actor)
        return Response(self.OutputSerializer(ack).data, status=status.HTTP_201_CREATED)


class ApplyReportApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_ACK]
    InputSerializer = ApplyReportInputSerializer
    OutputSerializer = ApplyReportOutputSerializer

    @extend_schema(
        operation_id="releases_apply_report",
        summary="Report, signed, the released records you could not apply, with reasons",
        description=(
            "Scope `release:ack`, the release's recipient. After loading a release, list the "
            "records that failed to load. `payload` is base64 of the exact JSON bytes signed "
            "with your registered Ed25519 key: `{release, manifest_sha256, nonce (16-64 of "
            "[A-Za-z0-9_-]), signed_at (ISO 8601 with offset), records: [{subject (the "
            "release's subject id), reason, text}, ... at most 10,000]}`. Reasons: "
            "`qr_unknown` (the QR merchant id is not known to your QR system), `qr_duplicate` "
            "(another merchant has it), `account_invalid` (the settlement account is refused), "
            "`phone_unreachable` (the subject cannot be notified), `other` (say what in "
            "`text`, at most 200 characters). Each record becomes a correction request the "
            "source reads (`GET /api/plans/{plan}/corrections`); its corrected record comes "
            "in the next release. All or nothing. Refused: bad signature (400 "
            "bad_signature), another release (400 wrong_release), signed_at more than 15 "
            "minutes away (400 stale_apply_report), a malformed payload (400 "
            "invalid_apply_report), a subject this release did not carry (400 "
            "unknown_record), a nonce seen before (409 replayed), not ready (409 "
            "release_not_ready), no signature key (409 no_key)."),
        request=InputSerializer,
        responses={201: OutputSerializer,
                   400: OpenApiResponse(ERROR, description=(
                       "bad_signature, wrong_release, stale_apply_report, "
                       "invalid_apply_report, unknown_record, invalid_request")),
                   401: E401, 403: E403, 404: E404,
                   409: OpenApiResponse(ERROR, description="replayed, release_not_ready, "
                                                           "no_key"),
                   415: E415})
    def post(self, request, release_id):
        release = self.release_of(release_id)
        data = self.valid_input(request, self.InputSerializer)
        report, opened = apply_report_receive(
            release=release, payload_b64=data.get("payload"),
            signature_b64=data.get("signature"), by=self.actor)
        report.corrections_opened = opened
        return Response(self.OutputSerializer(report).data, status=status.HTTP_201_CREATED)


class CorrectionsApi(OperatorApi):
    required_scopes = [SCOPE_UPLOAD]
    OutputSerializer = CorrectionPageSerializer

    @extend_schema(
        operation_id="plans_corrections_list",
        summary="Records the recipient could not apply: correct and upload them again",
        description=(
            "Scope `upload`, the plan's source only. Each correction request names the "
            "subject (your `external_id`), the recipient's reason and the release. Send the "
            "corrected row in an upload of the plan like any other (the same validation); it "
            "replaces the record, the request becomes `corrected`, and the next release "
            "carries it (`carried`). In id order; page with `after`. Errors: 400 "
            "invalid_after, invalid_limit, invalid_status; 404."),
        parameters=[OpenApiParameter("status", {"type": "string", "enum": [
                        "open", "corrected", "carried", "all"]},
                        description="which requests (default open)"),
                    OpenApiParameter("after", AFTER_PARAMETER.type,
                                     description="`next_after` of the previous page"),
                    LIMIT_PARAMETER],
        responses={200: OutputSerializer,
                   400: OpenApiResponse(ERROR, description="invalid_after, invalid_limit, "
                                                           "invalid_status"),
                   401: E401, 403: E403, 404: E404})
    def get(self, request, plan_id: int):
        plan = self.plan_as_source(plan_id)
        wanted = request.query_params.getlist("status") or ["open"]
        if len(wanted) > 1 or wanted[0] not in ("open", "corrected", "carried", "all"):
            raise TransferError("status: open, corrected, carried or all",
                                code="invalid_status")
        after, limit = _int_param(request, "after", 0), _limit(request)
        corrections, next_after = plan_corrections(
            plan, status=None if wanted[0] == "all" else wanted[0], after=after, limit=limit)
        if corrections:  # the access log (officers): whose records were named to the source
            access_record(by=self.actor, address=client_address(request), action="view",
                          subjects=[c.subject.public_id for c in corrections],
                          fields=["subject.external_id", "correction.reason"],
                          target_type="corrections", target_id=plan.pk)
        return Response(self.OutputSerializer(
            {"plan": plan.pk, "corrections": corrections, "next_after": next_after}).data)


# --- Withdrawal after release ------------------------------------------------------------------


class DeletionFeedApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_READ]
    OutputSerializer = DeletionFeedSerializer

    @extend_schema(
        operation_id="deletions_list",
        summary="Subjects whose released data must now be deleted (withdrawn or objected)",
        description="Scope `release:read`, the plan's recipient. The service searches for "
                    "deletions owed every minute (and POSTs new ones to your webhook); this "
                    "feed reads what it found, 500 at a time after `after`. Errors: 400 "
                    "invalid_after; 404.",
        parameters=[AFTER_PARAMETER],
        responses={200: OutputSerializer,
                   400: OpenApiResponse(ERROR, description="invalid_after: not a whole "
                                        "number"),
                   401: E401, 403: E403, 404: E404})
    def get(self, request, plan_id: int):
        plan = self.plan_as_recipient(plan_id)
        notices = deletion_feed(plan, after=_int_param(request, "after", 0), limit=500)
        if notices:  # the access log (officers): whose ids and owed fields this page showed
            access_record(by=self.actor, address=client_address(request), action="view",
                          subjects=[n.subject.public_id for n in notices],
                          fields=["subject.external_id", "deletion.fields", "deletion.reason"],
                          target_type="deletion_feed", target_id=plan.pk)
        return Response(self.OutputSerializer({"deletions": notices}).data)


class DeletionConfirmApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_ACK]
    OutputSerializer = DeletionConfirmedSerializer

    @extend_schema(operation_id="deletions_confirm",
                   summary="Confirm that the listed fields were deleted", request=None,
                   description="Scope `release:ack`. Confirming twice is harmless. Errors: "
                               "404.",
                   responses={200: OutputSerializer, 401: E401, 403: E403, 404: E404})
    def post(self, request, notice_id: int):
        notice = _found(deletion_notice_get_for(operator=self.operator, notice_id=notice_id),
                        "deletion request")
        notice = deletion_confirm(notice=notice, by=self.actor)
        return Response(self.OutputSerializer(notice).data)


# --- Art. 27 notices (the source operator) ---------------------------------------------------


class NoticesUnreachedApi(OperatorApi):
    required_scopes = [SCOPE_UPLOAD]

    @extend_schema(
        operation_id="plans_notices_unreached",
        summary="Subjects the plan's Art. 27 notice is not known to have reached",
        description=(
            "The subjects this operator uploaded a record for under the plan, of a kind with "
            "Art. 27 (`notice_opt_out`) fields, for whom the service holds no evidence that "
            "the notice reached them (no delivered LMS, opened link, attestation or phone "
            "record): their notice fields do not move. Tell them by your own channel and "
            "attest it (`notice-attestations`). In subject order; page with `after`."),
        parameters=[OpenApiParameter(
                        "after", AFTER_PARAMETER.type,
                        description="`next_after` of the previous page (default 0: from the "
                                    "start)"),
                    LIMIT_PARAMETER],
        responses={200: UnreachedPageSerializer,
                   400: OpenApiResponse(ERROR, description="invalid_after, invalid_limit: "
                                        "not a whole number, or limit outside 1-1000"),
                   401: E401, 403: E403, 404: E404})
    def get(self, request, plan_id: int):
        plan = self.plan_as_source(plan_id)
        after, limit = _int_param(request, "after", 0), _limit(request)
        subjects, next_after = notices_unreached(plan, after=after, limit=limit)
        if subjects:  # the access log (officers): whom the notice has not reached
            access_record(by=self.actor, address=client_address(request), action="view",
                          subjects=[s.public_id for s in subjects],
                          fields=["subject.external_id", "subject.kind", "notice.reached"],
                          target_type="notices_unreached", target_id=plan.pk)
        return Response(UnreachedPageSerializer(
            {"plan": plan.pk, "subjects": subjects, "next_after": next_after}).data)


class NoticeAttestationApi(OperatorApi):
    required_scopes = [SCOPE_UPLOAD]

    @extend_schema(
        operation_id="plans_notice_attestations_create",
        summary="Attest, signed, that your own notice reached subjects (in-app, post)",
        description=(
            "`payload` is base64 of the exact JSON bytes signed with the operator's "
            "registered Ed25519 signature key: `{plan, nonce (16-64 of [A-Za-z0-9_-]), "
            "signed_at (ISO 8601 with offset), attestations: [{external_id, channel "
            "(in_app | post), notified_at (ISO 8601 with offset)}, ... at most 10,000]}`. "
            "Each line becomes Art. 27 notice evidence for that subject (channel `operator`, "
            "reference `<channel>:<nonce>:<line>`); its notice period runs from "
            "`notified_at`. All lines or none: a refusal stores nothing. Refused: bad "
            "signature (400 bad_signature), another plan (400 wrong_plan), signed_at more "
            "than 15 minutes ago or more than 5 minutes ahead (400 stale_attestation), a "
            "malformed payload or line (400 invalid_attestation, naming the line), an "
            "external id this operator holds no subject of the plan's notice under (400 "
            "unknown_subject, naming the line, never the value) or holds two kinds under "
            "(400 ambiguous_subject), notified_at in the future or before the plan was "
            "approved (400 invalid_notified_at, naming the line), a nonce seen before (409 "
            "replayed), a plan not in force (409 plan_not_in_force), no registered signature "
            "key (409 no_key)."),
        request=NoticeAttestationInputSerializer,
        responses={201: NoticeAttestationOutputSerializer,
                   400: OpenApiResponse(ERROR, description=(
                       "bad_signature, wrong_plan, stale_attestation, invalid_attestation, "
                       "unknown_subject, ambiguous_subject, invalid_notified_at, "
                       "invalid_request")),
                   401: E401, 403: E403, 404: E404,
                   409: OpenApiResponse(ERROR, description="replayed, plan_not_in_force, "
                                        "no_key"),
                   415: E415})
    def post(self, request, plan_id: int):
        plan = self.plan_as_source(plan_id)
        data = self.valid_input(request, NoticeAttestationInputSerializer)
        attestation = notice_attestation_receive(
            plan=plan, payload_b64=data.get("payload"), signature_b64=data.get("signature"),
            by=self.actor)
        return Response(NoticeAttestationOutputSerializer(attestation).data,
                        status=status.HTTP_201_CREATED)


@csrf_exempt  # a POST to no endpoint is a JSON 404 too, not the CSRF page
def api_not_found(request, *args, **kwargs):
    """No endpoint at this address: the API's JSON error, not Django's HTML page."""
    return JsonResponse({"error": "not_found",
                         "detail": "no such endpoint: see /api/docs/ for the operator API"},
                        status=404)
