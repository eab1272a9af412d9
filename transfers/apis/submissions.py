"""What the recipient signs back (acknowledgements, apply reports) and the corrections
the source reads from them."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from officers.access import access_record, client_address
from transfers.apis.base import (
    AFTER_PARAMETER,
    E401,
    E403,
    E404,
    E415,
    ERROR,
    LIMIT_PARAMETER,
    OperatorApi,
    query_int,
    query_limit,
)
from transfers.permissions import SCOPE_RELEASE_ACK, SCOPE_UPLOAD
from transfers.selectors import plan_corrections
from transfers.serializers import (
    AcknowledgementInputSerializer,
    AcknowledgementOutputSerializer,
    ApplyReportInputSerializer,
    ApplyReportOutputSerializer,
    CorrectionPageSerializer,
)
from transfers.services import TransferError, acknowledgement_receive, apply_report_receive


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
        after, limit = query_int(request, "after", 0), query_limit(request)
        corrections, next_after = plan_corrections(
            plan, status=None if wanted[0] == "all" else wanted[0], after=after, limit=limit)
        if corrections:  # the access log (officers): whose records were named to the source
            access_record(by=self.actor, address=client_address(request), action="view",
                          subjects=[c.subject.public_id for c in corrections],
                          fields=["subject.external_id", "correction.reason"],
                          target_type="transfers.corrections", target_id=plan.pk)
        return Response(self.OutputSerializer(
            {"plan": plan.pk, "corrections": corrections, "next_after": next_after}).data)
