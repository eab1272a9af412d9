"""The source operator's upload: create, read, complete, and its batches (raw body)."""

from __future__ import annotations

import re

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from transfers.apis.base import (
    BATCH_ID_PARAMETER,
    E400,
    E401,
    E403,
    E404,
    E415,
    ERROR,
    OperatorApi,
    found,
)
from transfers.models import Upload, UploadBatch
from transfers.permissions import SCOPE_UPLOAD
from transfers.selectors import batch_get_for, upload_totals
from transfers.serializers import (
    BatchReportSerializer,
    UploadSerializer,
    UploadTotalsInputSerializer,
)
from transfers.services import (
    LengthRequired,
    PayloadTooLarge,
    TransferError,
    batch_id_check,
    upload_batch_receive,
    upload_complete,
    upload_create,
)


def _max_batch_bytes() -> int:
    return int(getattr(settings, "TRANSFERS_MAX_BATCH_BYTES", 64 * 1024 * 1024))


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
        batch = found(batch_get_for(upload=upload, batch_id=batch_id), "batch")
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
