"""Withdrawal after release: the recipient's deletion feed and its confirmations."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response

from officers.access import access_record, client_address
from transfers.apis.base import (
    AFTER_PARAMETER,
    E401,
    E403,
    E404,
    ERROR,
    OperatorApi,
    found,
    query_int,
)
from transfers.permissions import SCOPE_RELEASE_ACK, SCOPE_RELEASE_READ
from transfers.selectors import deletion_feed, deletion_notice_get_for
from transfers.serializers import DeletionConfirmedSerializer, DeletionFeedSerializer
from transfers.services import deletion_confirm


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
        notices = deletion_feed(plan, after=query_int(request, "after", 0), limit=500)
        if notices:  # the access log (officers): whose ids and owed fields this page showed
            access_record(by=self.actor, address=client_address(request), action="view",
                          subjects=[n.subject.public_id for n in notices],
                          fields=["subject.external_id", "deletion.fields", "deletion.reason"],
                          target_type="transfers.deletion_feed", target_id=plan.pk)
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
        notice = found(deletion_notice_get_for(operator=self.operator, notice_id=notice_id),
                        "deletion request")
        notice = deletion_confirm(notice=notice, by=self.actor)
        return Response(self.OutputSerializer(notice).data)
