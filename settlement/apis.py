"""Settlement endpoints of the operator API, on the conventions of `transfers.apis`: the
same token check, scopes and error bodies, a plan another operator is party to answers 404,
and every call is audited (`OperatorApi`)."""

from __future__ import annotations

import re

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from governance.models import TransferPlan
from settlement.disposition import plan_disposition
from settlement.models import RefundCase
from settlement.selectors import refund_cases_page
from settlement.serializers import (
    DispositionSerializer,
    RefundCaseSerializer,
    RefundPageSerializer,
    SignedInputSerializer,
)
from settlement.services import refund_case_confirm
from transfers.apis import OperatorApi
from transfers.permissions import SCOPE_RELEASE_READ, SCOPE_UPLOAD
from transfers.selectors import plans_visible_to
from transfers.serializers import ErrorSerializer
from transfers.services import TransferError

E400 = OpenApiResponse(ErrorSerializer, description="malformed: `error` names what")
E401 = OpenApiResponse(ErrorSerializer, description="no or expired token")
E403 = OpenApiResponse(ErrorSerializer, description="the token lacks the scope")
E404 = OpenApiResponse(ErrorSerializer, description="no such plan or case for this operator "
                                                    "(another operator's answer 404 too)")
AFTER = OpenApiParameter("after", {"type": "integer", "minimum": 0,
                                   "maximum": 999_999_999_999_999_999},
                         description="`next_after` of the previous page (default 0)")
LIMIT = OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": 1000},
                         description="1-1000, default 500")
STATUS = OpenApiParameter("status", {"type": "string", "enum": ["requested", "refunded"]},
                          description="only cases in this state")


def _int_param(request, name: str, default: int) -> int:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise TransferError(f"{name} given more than once", code=f"invalid_{name}")
    raw = values[0] if values else ""
    if raw == "":
        return default
    if not re.fullmatch(r"[0-9]{1,18}", raw):
        raise TransferError(f"{name} must be a whole number from 0 to 18 digits",
                            code=f"invalid_{name}")
    return int(raw)


class RefundListApi(OperatorApi):
    required_scopes = [SCOPE_UPLOAD]

    @extend_schema(
        operation_id="plans_refunds_list",
        summary="Refund cases this operator owes under the plan (the outgoing operator only)",
        description=(
            "Users who objected to the move and asked for their balance back. `amount` is the "
            "balance of the record you uploaded. Refund each and confirm it, signed "
            "(`refunds/{case}/confirmation`). In case order; page with `after`. The recipient "
            "of the plan gets 404: it needs none of them."),
        parameters=[AFTER, LIMIT, STATUS],
        responses={200: RefundPageSerializer,
                   400: OpenApiResponse(ErrorSerializer, description="invalid_after, "
                                        "invalid_limit, invalid_status"),
                   401: E401, 403: E403, 404: E404})
    def get(self, request, plan_id: int):
        plan = self.plan_as_source(plan_id)
        after, limit = _int_param(request, "after", 0), _int_param(request, "limit", 500)
        if not 1 <= limit <= 1000:
            raise TransferError("limit: 1-1000", code="invalid_limit")
        wanted = request.query_params.getlist("status")
        if len(wanted) > 1 or (wanted and wanted[0] not in RefundCase.Status.values):
            raise TransferError("status: requested or refunded, once", code="invalid_status")
        cases, next_after = refund_cases_page(plan, after=after, limit=limit,
                                              status=wanted[0] if wanted else None)
        return Response(RefundPageSerializer(
            {"plan": plan.pk, "refunds": cases, "next_after": next_after}).data)


class RefundConfirmationApi(OperatorApi):
    required_scopes = [SCOPE_UPLOAD]

    @extend_schema(
        operation_id="plans_refunds_confirm",
        summary="Confirm, signed, that you refunded a case",
        description=(
            "`payload` is base64 of the exact JSON bytes signed with your registered Ed25519 "
            "signature key: `{plan, case (the case id), amount (won, the case's), refunded_at "
            "(ISO 8601 with offset), reference (your own, 1-64 of [A-Za-z0-9._:/-]), nonce "
            "(16-64 of [A-Za-z0-9_-]), signed_at}`. Refused, nothing stored: bad signature "
            "(400 bad_signature), another plan or case (400 wrong_plan, wrong_case), another "
            "amount (400 wrong_amount), refunded_at before the request or in the future (400 "
            "invalid_refunded_at), signed more than 15 minutes ago (400 stale_confirmation), "
            "malformed (400 invalid_confirmation), a nonce seen before (409 replayed), a case "
            "already confirmed (409 already_refunded)."),
        request=SignedInputSerializer,
        responses={200: RefundCaseSerializer, 400: E400, 401: E401, 403: E403, 404: E404,
                   409: OpenApiResponse(ErrorSerializer, description="replayed, "
                                        "already_refunded, no_key"),
                   415: OpenApiResponse(ErrorSerializer, description="the body is not JSON")})
    def post(self, request, plan_id: int, case_id):
        plan = self.plan_as_source(plan_id)
        case = (RefundCase.objects.filter(public_id=case_id, lineage=plan.lineage,
                                          operator=self.operator)
                .select_related("subject", "operator").first())
        if case is None:
            raise NotFound("no such refund case for this operator")
        data = self.valid_input(request, SignedInputSerializer)
        case = refund_case_confirm(plan=plan, case=case, payload_b64=data["payload"],
                                   signature_b64=data["signature"], by=self.actor)
        return Response(RefundCaseSerializer(case).data, status=status.HTTP_200_OK)


class ReconciliationApi(OperatorApi):
    """Both operators of the plan: the source with `upload`, the recipient with
    `release:read` (checked per caller below, since the scope depends on the role)."""

    required_scopes: list[str] = []

    @extend_schema(
        operation_id="plans_reconciliation",
        summary="Where every won of the plan's accepted balance is (source and recipient)",
        description=(
            "`balance`: the accepted certificate balance and its disposition: `moved` (carried "
            "by a release), `refund_requested`, `refunded`, `held` per reason, and "
            "`unaccounted` (accepted minus all of them; 0 for a clean plan). Each with count "
            "and sum in `detail`. `releases`: each ready release's balance against what the "
            "recipient acknowledged. The source reads it with the `upload` scope, the "
            "recipient with `release:read`."),
        responses={200: DispositionSerializer, 401: E401, 403: E403, 404: E404})
    def get(self, request, plan_id: int):
        plan = plans_visible_to(self.operator).filter(pk=plan_id).first()
        if plan is None:
            raise NotFound("no such plan for this operator")
        self._check_role_scope(request, plan)
        return Response(DispositionSerializer(plan_disposition(plan)).data)

    def _check_role_scope(self, request, plan: TransferPlan) -> None:
        from rest_framework.exceptions import PermissionDenied

        needed = SCOPE_UPLOAD if plan.from_operator_id == self.operator.pk else (
            SCOPE_RELEASE_READ)
        if not request.auth.allow_scopes([needed]):
            raise PermissionDenied(f"this token lacks the {needed} scope")
