"""The operator API (OAuth2 client credentials). Views speak HTTP only: they check the
caller may see the plan (else 404), call one service or selector, and shape the answer.
Every authenticated call is recorded as an audit event (actor ``operator:<CODE>``)."""

from __future__ import annotations

import hashlib
import re
import uuid

from django.conf import settings
from django.db import transaction
from django.http import FileResponse, Http404
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.exceptions import UnsupportedMediaType as DrfUnsupportedMediaType
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import audit_record, looks_personal
from audit.signing import service_key_id, service_public_key_b64
from governance.models import TransferPlan
from governance.selectors import plan_rules
from governance.services import GovernanceError
from officers.access import access_record, client_address
from transfers import format as fmt
from transfers.authentication import OperatorOAuth2Authentication
from transfers.models import DeletionNotice, Release, Upload, UploadBatch
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
    deletion_feed,
    latest_acknowledgement,
    notices_unreached,
    plans_visible_to,
    release_records_page,
    upload_totals,
)
from transfers.serializers import (
    AcknowledgementInputSerializer,
    ErrorSerializer,
    NoticeAttestationInputSerializer,
    NoticeAttestationOutputSerializer,
    UnreachedPageSerializer,
    UploadTotalsInputSerializer,
)
from transfers.services import (
    LengthRequired,
    PayloadTooLarge,
    TransferError,
    acknowledgement_receive,
    batch_id_check,
    deletion_confirm,
    deletions_detect,
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


class OperatorApi(APIView):
    """Needs an OAuth2 bearer token (client credentials) of an active operator client, with
    the scope listed under security. A plan, upload or release of another operator answers
    404, exactly like one that does not exist. Every call is recorded in the audit trail.
    Errors are JSON: `{"error": code, "detail": message}`."""

    authentication_classes = [OperatorOAuth2Authentication]
    permission_classes = [IsOperatorClient, OperatorTokenHasScope]
    parser_classes = [BoundedJSONParser]
    required_scopes: list[str] = []
    audit_action = "api.call"

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.operator = operator_of_request(request)
        self.actor = operator_actor(self.operator)

    def handle_exception(self, exc):
        """The one place where refusals become HTTP: always `{"error", "detail"}` JSON."""
        if isinstance(exc, TransferError):
            return Response({"error": exc.code, "detail": exc.message}, status=exc.status)
        if isinstance(exc, GovernanceError):
            return Response({"error": "refused", "detail": str(exc)},
                            status=status.HTTP_409_CONFLICT)
        if isinstance(exc, ValidationError):
            return Response(_validation_error_body(exc.detail),
                            status=status.HTTP_400_BAD_REQUEST)
        if isinstance(exc, Http404):
            exc = NotFound()
        response = super().handle_exception(exc)
        if isinstance(exc, APIException) and isinstance(response.data, dict):
            response.data.setdefault("error", exc.get_codes() if isinstance(
                exc.get_codes(), str) else "invalid")
        return response

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

    # --- what this operator may see --------------------------------------------------------

    def plan_as_source(self, plan_id: int) -> TransferPlan:
        plan = plans_visible_to(self.operator).filter(pk=plan_id,
                                                      from_operator=self.operator).first()
        if plan is None:
            raise NotFound("no such plan for this operator")
        return plan

    def plan_as_recipient(self, plan_id: int) -> TransferPlan:
        plan = plans_visible_to(self.operator).filter(pk=plan_id,
                                                      to_operator=self.operator).first()
        if plan is None:
            raise NotFound("no such plan for this operator")
        return plan

    def upload_of(self, upload_id) -> Upload:
        upload = Upload.objects.filter(public_id=upload_id, operator=self.operator,
                                       plan__from_operator=self.operator).first()
        if upload is None:
            raise NotFound("no such upload for this operator")
        return upload

    def release_of(self, release_id) -> Release:
        release = (Release.objects.filter(public_id=release_id, recipient=self.operator,
                                          plan__to_operator=self.operator)
                   .select_related("plan", "recipient_key").first())
        if release is None:
            raise NotFound("no such release for this operator")
        return release


def _validation_error_body(detail) -> dict:
    """A serializer's errors as `{"error": "invalid_request", "detail": one line, "fields":
    {path: [messages]}}`; a body that is not an object at all has the path "body"."""
    fields: dict[str, list[str]] = {}

    def walk(node, path: str) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                name = "body" if key == "non_field_errors" and not path else key
                walk(child, f"{path}.{name}" if path else name)
        elif isinstance(node, list) and node and not isinstance(node[0], dict | list):
            fields.setdefault(path or "body", []).extend(str(m) for m in node)
        elif isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, f"{path}[{i}]")
        else:
            fields.setdefault(path or "body", []).append(str(node))

    walk(detail, "")
    summary = "; ".join(f"{path}: {' '.join(messages)}" for path, messages in fields.items())
    return {"error": "invalid_request", "detail": summary, "fields": fields}


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


# --- Public key, plans -------------------------------------------------------------------------


class ServiceKeyApi(APIView):
    """The service's Ed25519 public key, which signs release manifests (public)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="The service's manifest-signing public key (no token needed)",
        responses={200: inline_serializer("ServiceKey", {
            "algorithm": serializers.CharField(), "key_id": serializers.CharField(),
            "public_key": serializers.CharField(help_text="raw 32-byte Ed25519, base64")})})
    def get(self, request):
        return Response({"algorithm": "Ed25519", "key_id": service_key_id(),
                         "public_key": service_public_key_b64()})


def _plan_json(plan: TransferPlan, operator) -> dict:
    fields: dict[str, list] = {}
    for rule in plan_rules(plan):
        fields.setdefault(rule.field.subject_kind, []).append(
            {"key": rule.field.key, "label": rule.field.label_ko,
             "data_type": rule.field.data_type, "basis": rule.basis})
    return {"id": plan.pk, "lineage": str(plan.lineage), "version": plan.version,
            "title": plan.title, "status": plan.status, "rehearsal": plan.rehearsal,
            "from": plan.from_operator.code, "to": plan.to_operator.code,
            "role": "source" if plan.from_operator_id == operator.pk else "recipient",
            "cutover_at": plan.cutover_at, "fields": fields}


class PlanListApi(OperatorApi):
    @extend_schema(operation_id="plans_list",
                   summary="Plans where this operator is the source or the recipient",
                   responses={200: OpenApiTypes.OBJECT, 401: E401})
    def get(self, request):
        return Response({"plans": [_plan_json(p, self.operator)
                                   for p in plans_visible_to(self.operator)]})


class PlanDetailApi(OperatorApi):
    @extend_schema(summary="One plan with its fields per subject kind (the upload schema)",
                   responses={200: OpenApiTypes.OBJECT, 401: E401, 404: E404})
    def get(self, request, plan_id: int):
        plan = plans_visible_to(self.operator).filter(pk=plan_id).first()
        if plan is None:
            raise NotFound("no such plan for this operator")
        return Response(_plan_json(plan, self.operator))


# --- Upload ---------------------------------------------------------------------------------

def _upload_json(upload: Upload) -> dict:
    totals = upload_totals(upload)
    return {"id": str(upload.public_id), "plan": upload.plan_id, "status": upload.status,
            "accepted": upload.accepted_count, "rejected": upload.rejected_count,
            "declared_totals": totals["declared"], "accepted_totals": totals["accepted"],
            "totals_match": totals["matches"], "mismatches": totals["mismatches"],
            "batches": list(upload.batches.values_list("batch_id", flat=True))}


def _batch_json(batch: UploadBatch, replayed: bool = False) -> dict:
    return {"batch_id": batch.batch_id, "sha256": batch.content_sha256,
            "lines": batch.line_count, "accepted": batch.accepted_count,
            "rejected": batch.rejected_count, "rejections": batch.rejections,
            "replayed": replayed}


class UploadCreateApi(OperatorApi):
    required_scopes = [SCOPE_UPLOAD]

    @extend_schema(
        summary="Start an upload for a plan where this operator is the source",
        request=UploadTotalsInputSerializer,
        responses={201: OpenApiTypes.OBJECT, 400: E400, 401: E401, 403: E403, 404: E404,
                   409: OpenApiResponse(ERROR, description="the plan is not approved"),
                   415: OpenApiResponse(ERROR, description="the body is not JSON")})
    def post(self, request, plan_id: int):
        plan = self.plan_as_source(plan_id)
        data = self.valid_input(request, UploadTotalsInputSerializer)
        upload = upload_create(plan=plan, by=self.actor,
                               declared_totals=data.get("declared_totals"))
        return Response(_upload_json(upload), status=status.HTTP_201_CREATED)


class UploadDetailApi(OperatorApi):
    required_scopes = [SCOPE_UPLOAD]

    @extend_schema(summary="An upload's status and its declared vs accepted totals",
                   responses={200: OpenApiTypes.OBJECT, 401: E401, 403: E403, 404: E404})
    def get(self, request, upload_id):
        return Response(_upload_json(self.upload_of(upload_id)))


class UploadCompleteApi(OperatorApi):
    required_scopes = [SCOPE_UPLOAD]

    @extend_schema(
        summary="Close an upload, optionally declaring the control totals now",
        request=UploadTotalsInputSerializer,
        responses={200: OpenApiTypes.OBJECT, 400: E400, 401: E401, 403: E403, 404: E404,
                   409: ERROR,
                   415: OpenApiResponse(ERROR, description="the body is not JSON")})
    def post(self, request, upload_id):
        upload = self.upload_of(upload_id)
        data = self.valid_input(request, UploadTotalsInputSerializer)
        upload = upload_complete(upload=upload, by=self.actor,
                                 declared_totals=data.get("declared_totals"))
        return Response(_upload_json(upload))


class BatchApi(OperatorApi):
    """PUT a batch (NDJSON or CSV body); GET its report again."""

    required_scopes = [SCOPE_UPLOAD]
    parser_classes: list = []  # the body is read raw, never parsed by DRF

    @extend_schema(
        summary="Send one batch of records (idempotent per batch id)",
        description=(
            "Body: `application/x-ndjson` (one flat JSON object per line: `kind`, "
            "`external_id` and the plan's field keys) or `text/csv` (header: the same names)."
            " Every row is validated; the answer names every rejected row (line, field, "
            "code, message). Re-sending the same batch id with the same body returns the "
            "same report and changes nothing; with another body: 409."),
        request={"application/x-ndjson": OpenApiTypes.BINARY, "text/csv": OpenApiTypes.BINARY},
        responses={201: OpenApiResponse(OpenApiTypes.OBJECT, description="the report"),
                   200: OpenApiResponse(OpenApiTypes.OBJECT,
                                        description="replayed: the first report"),
                   400: OpenApiResponse(ERROR, description=(
                       "invalid_batch_id (the shape, or it looks like a phone, business or "
                       "resident number), invalid_content_length, empty_batch")),
                   401: E401, 403: E403, 404: E404,
                   409: OpenApiResponse(ERROR, description="batch id reused for other "
                                        "content, or upload complete"),
                   411: OpenApiResponse(ERROR, description="a chunked body without "
                                        "Content-Length: send the batch whole"),
                   413: OpenApiResponse(ERROR, description="body too large"),
                   415: OpenApiResponse(ERROR, description="not NDJSON or CSV")},
        parameters=[BATCH_ID_PARAMETER],
        examples=[OpenApiExample("NDJSON row", value={
            "kind": "user", "external_id": "U-000001", "user.phone": "010-0000-0001",
            "user.certificate_balance": 50000})])
    def put(self, request, upload_id, batch_id: str):
        upload = self.upload_of(upload_id)
        batch_id_check(batch_id)
        body = _read_body(request, _max_batch_bytes())
        result = upload_batch_receive(upload=upload, batch_id=batch_id, body=body,
                                      content_type=request.content_type, by=self.actor)
        return Response(_batch_json(result.batch, result.replayed),
                        status=status.HTTP_200_OK if result.replayed else
                        status.HTTP_201_CREATED)

    @extend_schema(summary="The report of a batch", parameters=[BATCH_ID_PARAMETER],
                   responses={200: OpenApiTypes.OBJECT,
                              400: OpenApiResponse(ERROR, description="invalid_batch_id"),
                              401: E401, 403: E403, 404: E404})
    def get(self, request, upload_id, batch_id: str):
        upload = self.upload_of(upload_id)
        batch_id_check(batch_id)
        batch = upload.batches.filter(batch_id=batch_id).first()
        if batch is None:
            raise NotFound("no such batch")
        return Response(_batch_json(batch))


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


def _release_json(release: Release) -> dict:
    ack = latest_acknowledgement(release)
    base = f"/api/releases/{release.public_id}"
    return {"id": str(release.public_id), "plan": release.plan_id, "number": release.number,
            "status": release.status, "rehearsal": release.rehearsal,
            "as_of": release.as_of, "records": release.record_count,
            "chunks": release.chunk_count, "manifest_sha256": release.manifest_sha256,
            "recipient_key_id": release.recipient_key.key_id,
            "links": {"manifest": f"{base}/manifest.json", "signature": f"{base}/manifest.sig",
                      "chunks": f"{base}/chunks/", "records": f"{base}/records",
                      "acknowledgements": f"{base}/acknowledgements"}
            if release.status == Release.Status.READY else {},
            "acknowledged": None if ack is None else {"matches": ack.matches,
                                                     "mismatches": ack.mismatches,
                                                     "received_at": ack.received_at}}


class ReleaseListApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_READ]

    @extend_schema(summary="Releases of a plan addressed to this operator",
                   responses={200: OpenApiTypes.OBJECT, 401: E401, 403: E403, 404: E404})
    def get(self, request, plan_id: int):
        plan = self.plan_as_recipient(plan_id)
        releases = Release.objects.filter(plan=plan).select_related("recipient_key")
        return Response({"releases": [_release_json(r) for r in releases]})

    @extend_schema(
        summary="Ask for the next (incremental) release; an export job builds it",
        request=None,
        responses={202: OpenApiResponse(OpenApiTypes.OBJECT, description="queued or "
                                        "already being built: poll the release"),
                   401: E401, 403: E403, 404: E404,
                   409: OpenApiResponse(ERROR, description="plan not in force / no key")})
    def post(self, request, plan_id: int):
        plan = self.plan_as_recipient(plan_id)
        release = release_request(plan=plan, by=self.actor)
        release.refresh_from_db()
        return Response(_release_json(release), status=status.HTTP_202_ACCEPTED)


class ReleaseDetailApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_READ]

    @extend_schema(summary="A release's status and links",
                   responses={200: OpenApiTypes.OBJECT, 401: E401, 403: E403, 404: E404})
    def get(self, request, release_id):
        return Response(_release_json(self.release_of(release_id)))


class ReleaseFileApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_READ]

    @extend_schema(operation_id="releases_file",
                   summary="A file of a ready release: manifest.json, manifest.sig or "
                           "chunks/NNNNNN.bin",
                   description="`manifest.json` is served as `application/json`: keep its "
                               "bytes exactly as received (the signature in `manifest.sig` is "
                               "over them; never re-serialise it). The signature and chunks "
                               "are `application/octet-stream`.",
                   responses={(200, "application/json"): OpenApiTypes.OBJECT,
                              (200, "application/octet-stream"): OpenApiTypes.BINARY,
                              401: E401, 403: E403, 404: E404})
    def get(self, request, release_id, file: str):
        name = file
        release = self.release_of(release_id)
        if release.status != Release.Status.READY:
            raise NotFound("the release is not ready")
        allowed = {"manifest.json", "manifest.sig"} | {
            fmt.chunk_name(n) for n in range(1, release.chunk_count + 1)}
        if name not in allowed:
            raise NotFound("no such file in this release")
        if name == "manifest.json":
            return _bytes_response(bytes(release.manifest), "application/json")
        if name == "manifest.sig":
            return _bytes_response(bytes(release.signature), "application/octet-stream")
        path = release_path(release) / name
        if not path.is_file():
            raise NotFound("the file is missing on the server")
        return FileResponse(path.open("rb"), content_type="application/octet-stream")


def _bytes_response(data: bytes, content_type: str):
    from django.http import HttpResponse

    return HttpResponse(data, content_type=content_type)


class ReleaseRecordsApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_READ]

    @extend_schema(
        summary="A release's records as JSON pages (small pulls)",
        description="Cursor pagination in subject order. Each field is checked against "
                    "the policy again at the time of the call: fields denied since the "
                    "release was built are withheld (and counted in `withheld`).",
        parameters=[OpenApiParameter("cursor", {"type": "string", "pattern": "^[0-9]{0,18}$"},
                                     description="from `next_cursor` (empty or absent: "
                                                 "from the start)"),
                    LIMIT_PARAMETER],
        responses={200: OpenApiTypes.OBJECT,
                   400: OpenApiResponse(ERROR, description="invalid_cursor, invalid_limit"),
                   401: E401, 403: E403, 404: E404})
    def get(self, request, release_id):
        release = self.release_of(release_id)
        if release.status != Release.Status.READY:
            raise NotFound("the release is not ready")
        after, limit = _int_param(request, "cursor", 0), _int_param(request, "limit", 500)
        if not 1 <= limit <= 1000:
            raise TransferError("limit: 1-1000", code="invalid_limit")
        records, cursor, withheld = release_records_page(release, after=after, limit=limit)
        # The access log (officers): whose values this page decrypted, for which recipient.
        access_record(by=self.actor, address=client_address(request), action="decrypt",
                      subjects=[r["subject"] for r in records],
                      fields={key for r in records for key in r["fields"]},
                      target_type="release", target_id=str(release.public_id),
                      extra={"cursor": after})
        return Response({"release": str(release.public_id), "records": records,
                         "next_cursor": None if cursor is None else str(cursor),
                         "withheld": withheld})


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


class AcknowledgementApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_ACK]

    @extend_schema(
        summary="Acknowledge a release with the recipient's own totals, signed",
        description=(
            "`payload` is base64 of the exact JSON bytes signed with the recipient's "
            "registered Ed25519 key: `{release, manifest_sha256, nonce, signed_at, totals: "
            "{records, subjects, fields, certificate_balance_sum}}`. Refused: bad signature "
            "(400 bad_signature), another release (400 wrong_release), signed_at older than "
            "15 minutes (400 stale_acknowledgement), a nonce seen before (409 replayed)."),
        request=AcknowledgementInputSerializer,
        responses={201: OpenApiTypes.OBJECT, 400: E400, 401: E401, 403: E403, 404: E404,
                   409: ERROR,
                   415: OpenApiResponse(ERROR, description="the body is not JSON")})
    def post(self, request, release_id):
        release = self.release_of(release_id)
        data = self.valid_input(request, AcknowledgementInputSerializer)
        ack = acknowledgement_receive(release=release, payload_b64=data.get("payload"),
                                      signature_b64=data.get("signature"), by=self.actor)
        return Response({"acknowledgement": ack.pk, "matches": ack.matches,
                         "mismatches": ack.mismatches}, status=status.HTTP_201_CREATED)


# --- Withdrawal after release ------------------------------------------------------------------


class DeletionFeedApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_READ]

    @extend_schema(
        summary="Subjects whose released data must now be deleted (withdrawn or objected)",
        parameters=[AFTER_PARAMETER],
        responses={200: OpenApiTypes.OBJECT,
                   400: OpenApiResponse(ERROR, description="invalid_after: not a whole "
                                        "number"),
                   401: E401, 403: E403, 404: E404})
    def get(self, request, plan_id: int):
        plan = self.plan_as_recipient(plan_id)
        deletions_detect(plan=plan)
        notices = deletion_feed(plan, after=_int_param(request, "after", 0), limit=500)
        return Response({"deletions": [
            {"id": n.pk, "subject": n.subject.public_id, "kind": n.subject.kind,
             "external_id": n.subject.external_id, "fields": n.fields, "reason": n.reason,
             "created_at": n.created_at, "confirmed_at": n.confirmed_at} for n in notices]})


class DeletionConfirmApi(OperatorApi):
    required_scopes = [SCOPE_RELEASE_ACK]

    @extend_schema(summary="Confirm that the listed fields were deleted", request=None,
                   responses={200: OpenApiTypes.OBJECT, 401: E401, 403: E403, 404: E404})
    def post(self, request, notice_id: int):
        notice = DeletionNotice.objects.filter(pk=notice_id, recipient=self.operator).first()
        if notice is None:
            raise NotFound("no such deletion request for this operator")
        notice = deletion_confirm(notice=notice, by=self.actor)
        return Response({"id": notice.pk, "confirmed_at": notice.confirmed_at})



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
        after, limit = _int_param(request, "after", 0), _int_param(request, "limit", 500)
        if not 1 <= limit <= 1000:
            raise TransferError("limit: 1-1000", code="invalid_limit")
        subjects, next_after = notices_unreached(plan, after=after, limit=limit)
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
                   415: OpenApiResponse(ERROR, description="the body is not JSON")})
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
    from django.http import JsonResponse

    return JsonResponse({"error": "not_found",
                         "detail": "no such endpoint: see /api/docs/ for the operator API"},
                        status=404)
