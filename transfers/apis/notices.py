"""Art. 27 notices (the source operator): subjects not reached, and its signed attestations."""

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
from transfers.permissions import SCOPE_UPLOAD
from transfers.selectors import notices_unreached
from transfers.serializers import (
    NoticeAttestationInputSerializer,
    NoticeAttestationOutputSerializer,
    UnreachedPageSerializer,
)
from transfers.services import notice_attestation_receive


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
        after, limit = query_int(request, "after", 0), query_limit(request)
        subjects, next_after = notices_unreached(plan, after=after, limit=limit)
        if subjects:  # the access log (officers): whom the notice has not reached
            access_record(by=self.actor, address=client_address(request), action="view",
                          subjects=[s.public_id for s in subjects],
                          fields=["subject.external_id", "subject.kind", "notice.reached"],
                          target_type="transfers.notices_unreached", target_id=plan.pk)
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
