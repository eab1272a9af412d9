"""Settlement endpoints of the operator API, on the conventions of `transfers.apis`: the
same token check, scopes and error bodies, a plan another operator is party to answers 404,
and every call is audited (`OperatorApi`)."""

from __future__ import annotations

import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from governance.models import TransferPlan
from settlement.disposition import plan_disposition
from settlement.models import BalanceList, RefundCase
from settlement.selectors import (
    balance_differences_page,
    balance_lists_of,
    declarations_side_by_side,
    newest_statement,
    refund_cases_page,
)
from settlement.serializers import (
    BalanceListSerializer,
    BalanceListsSerializer,
    DeclarationOutputSerializer,
    DeclarationsSerializer,
    DifferencesPageSerializer,
    DispositionSerializer,
    RefundCaseSerializer,
    RefundPageSerializer,
    SignedInputSerializer,
    StatementSerializer,
)
from settlement.services import (
    balance_list_announce,
    balance_list_body_receive,
    declaration_receive,
    plan_parties,
    plans_declarable_by,
    refund_case_confirm,
    roles_of,
    statement_sign,
)
from transfers.apis import OperatorApi
from transfers.permissions import SCOPE_RELEASE_ACK, SCOPE_RELEASE_READ, SCOPE_UPLOAD
from transfers.selectors import plans_visible_to
from transfers.serializers import ErrorSerializer
from transfers.services import PayloadTooLarge, TransferError
from transfers.services.common import UnsupportedMediaType

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


def _page_params(request) -> tuple[int, int]:
    """``after`` (default 0) and ``limit`` (1-1000, default 500) of a paged list."""
    after, limit = _int_param(request, "after", 0), _int_param(request, "limit", 500)
    if not 1 <= limit <= 1000:
        raise TransferError("limit: 1-1000", code="invalid_limit")
    return after, limit


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
        after, limit = _page_params(request)
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


# --- Totals from every party; per-subject balance lists -------------------------------------

# The scope a role's signed submissions need: the recipient acknowledges, the others upload.
WRITE_SCOPE = {"source": SCOPE_UPLOAD, "subcontractor": SCOPE_UPLOAD, "city": SCOPE_UPLOAD,
               "recipient": SCOPE_RELEASE_ACK}


class PartyApi(OperatorApi):
    """Any declaring party of the plan (source, its subcontractor, the city, the recipient)
    may read; each writes only what it signs itself, with the scope its role needs."""

    required_scopes: list[str] = []

    def plan_as_party(self, plan_id: int) -> TransferPlan:
        plan = plans_declarable_by(self.operator).filter(pk=plan_id).first()
        if plan is None:
            raise NotFound("no such plan for this operator")
        return plan

    def check_write_scope(self, request, plan: TransferPlan) -> None:
        from rest_framework.exceptions import PermissionDenied

        scopes = {WRITE_SCOPE[role] for role in roles_of(plan, self.operator)}
        if not any(request.auth.allow_scopes([scope]) for scope in scopes):
            raise PermissionDenied("this token lacks the scope this party's role needs "
                                   "(upload; the recipient: release:ack)")

    def signed_submission(self, request, plan: TransferPlan) -> dict:
        """The party's signed submission, once its token may write, as the keyword arguments
        of the service that receives it (operator, payload, signature, actor)."""
        self.check_write_scope(request, plan)
        data = self.valid_input(request, SignedInputSerializer)
        return {"operator": self.operator, "payload_b64": data["payload"],
                "signature_b64": data["signature"], "by": self.actor}


class DeclarationsApi(PartyApi):
    @extend_schema(
        operation_id="plans_declarations_list",
        summary="Every party's newest totals side by side, with the differences",
        responses={200: DeclarationsSerializer, 401: E401, 404: E404})
    def get(self, request, plan_id: int):
        plan = self.plan_as_party(plan_id)
        return Response(DeclarationsSerializer(declarations_side_by_side(plan)).data)

    @extend_schema(
        operation_id="plans_declarations_create",
        summary="Declare your totals for the plan, signed",
        description=(
            "`payload`: base64 of the exact JSON bytes signed with your registered Ed25519 "
            "key: `{plan, nonce, signed_at, role (source | subcontractor | city | recipient: "
            "one you play on the plan), as_of (YYYY-MM-DD), totals: {subjects: {merchant, "
            "user}, certificate_balance_sum, issuance_fee_sum}}`. Refused, nothing stored: "
            "400 wrong_role, invalid_declaration, bad_signature, wrong_plan, "
            "stale_declaration; 409 replayed. Scope `upload` (the recipient: `release:ack`)."),
        request=SignedInputSerializer,
        responses={201: DeclarationOutputSerializer, 400: E400, 401: E401, 403: E403,
                   404: E404, 409: OpenApiResponse(ErrorSerializer, description="replayed"),
                   415: OpenApiResponse(ErrorSerializer, description="the body is not JSON")})
    def post(self, request, plan_id: int):
        plan = self.plan_as_party(plan_id)
        declaration = declaration_receive(plan=plan, **self.signed_submission(request, plan))
        return Response(DeclarationOutputSerializer(declaration).data,
                        status=status.HTTP_201_CREATED)


class BalanceListsApi(PartyApi):
    @extend_schema(operation_id="plans_balance_lists_list",
                   summary="The per-subject balance lists of the plan, with their comparison",
                   responses={200: BalanceListsSerializer, 401: E401, 404: E404})
    def get(self, request, plan_id: int):
        plan = self.plan_as_party(plan_id)
        return Response(BalanceListsSerializer(
            {"plan": plan.pk, "lists": balance_lists_of(plan)}).data)

    @extend_schema(
        operation_id="plans_balance_lists_announce",
        summary="Announce a per-subject balance list, signed (then PUT its body)",
        description=(
            "`payload`: `{plan, nonce, signed_at, role, as_of, lines (data lines), sha256 "
            "(hex of the exact CSV body)}` signed as for declarations. Then PUT the body, "
            "`text/csv`: the header `external_id,balance,fee` and one line per user, to "
            "`balance-lists/{list}/body`; it is compared with the accepted records."),
        request=SignedInputSerializer,
        responses={201: BalanceListSerializer, 400: E400, 401: E401, 403: E403, 404: E404,
                   409: OpenApiResponse(ErrorSerializer, description="replayed")})
    def post(self, request, plan_id: int):
        plan = self.plan_as_party(plan_id)
        balance_list = balance_list_announce(plan=plan,
                                             **self.signed_submission(request, plan))
        return Response(BalanceListSerializer(balance_list).data,
                        status=status.HTTP_201_CREATED)


MAX_LIST_BYTES = 256 * 1024 * 1024


class BalanceListBodyApi(PartyApi):
    parser_classes: list = []  # the body is read raw

    @extend_schema(
        operation_id="plans_balance_lists_body",
        summary="Send the announced list's CSV body; it is compared with the accepted records",
        request={"text/csv": OpenApiTypes.BINARY},
        responses={200: BalanceListSerializer,
                   400: OpenApiResponse(ErrorSerializer, description="body_mismatch (SHA-256 "
                                        "or line count not as signed), invalid_body, "
                                        "duplicate_external_id, invalid_content_length"),
                   401: E401, 403: E403, 404: E404,
                   409: OpenApiResponse(ErrorSerializer, description="already_received"),
                   413: OpenApiResponse(ErrorSerializer, description="body too large"),
                   415: OpenApiResponse(ErrorSerializer, description="not text/csv")})
    def put(self, request, plan_id: int, list_id):
        plan = self.plan_as_party(plan_id)
        balance_list = BalanceList.objects.filter(public_id=list_id, plan=plan,
                                                  operator=self.operator).first()
        if balance_list is None:
            raise NotFound("no such balance list of this operator")
        self.check_write_scope(request, plan)
        if (request.content_type or "").split(";")[0].strip().lower() != "text/csv":
            raise UnsupportedMediaType("send the list as text/csv")
        raw = request.META.get("CONTENT_LENGTH") or ""
        if not re.fullmatch(r"[0-9]{1,18}", raw):
            raise TransferError("send the list whole, with its Content-Length",
                                code="invalid_content_length")
        if int(raw) > MAX_LIST_BYTES:
            raise PayloadTooLarge(f"a list is at most {MAX_LIST_BYTES} bytes")
        body = request._request.read(int(raw))
        balance_list = balance_list_body_receive(balance_list=balance_list, body=body,
                                                 by=self.actor)
        return Response(BalanceListSerializer(balance_list).data)


class BalanceDifferencesApi(PartyApi):
    @extend_schema(
        operation_id="plans_balance_lists_differences",
        summary="The subjects on which a list and the accepted records differ (paged)",
        parameters=[AFTER, LIMIT],
        responses={200: DifferencesPageSerializer, 400: E400, 401: E401, 404: E404})
    def get(self, request, plan_id: int, list_id):
        plan = self.plan_as_party(plan_id)
        balance_list = BalanceList.objects.filter(public_id=list_id, plan=plan).first()
        if balance_list is None:
            raise NotFound("no such balance list for this plan")
        after, limit = _page_params(request)
        page, next_after = balance_differences_page(balance_list, after=after, limit=limit)
        return Response(DifferencesPageSerializer(
            {"list": balance_list.public_id, "differences": page,
             "next_after": next_after}).data)


def _statement_of(plan: TransferPlan):
    statement = newest_statement(plan)
    if statement is None:
        raise NotFound("no settlement statement for this plan yet")
    return statement


def _statement_data(statement, plan) -> dict:
    import base64

    signatures = list(statement.signatures.select_related("operator", "key"))
    named = [role for role, operator_id in plan_parties(plan).items() if operator_id]
    return {"statement": statement, "content_base64": base64.b64encode(
        bytes(statement.content)).decode(), "signatures": signatures,
        "awaiting": [r for r in named if r not in {s.role for s in signatures}]}


class StatementApi(PartyApi):
    @extend_schema(operation_id="plans_statement",
                   summary="The plan's newest settlement statement and who has co-signed it",
                   responses={200: StatementSerializer, 401: E401, 404: E404})
    def get(self, request, plan_id: int):
        plan = self.plan_as_party(plan_id)
        statement = _statement_of(plan)
        return Response(StatementSerializer(_statement_data(statement, plan)).data)


class StatementSignatureApi(PartyApi):
    @extend_schema(
        operation_id="plans_statement_sign",
        summary="Co-sign the settlement statement",
        description=(
            "`payload`: `{plan, statement (its id), sha256 (of its exact bytes), nonce, "
            "signed_at, role}` signed with your registered Ed25519 key. Refused, nothing "
            "stored: 400 wrong_statement (another statement or content), wrong_role, "
            "bad_signature, stale_signature, invalid_signature; 409 already_signed, "
            "replayed. Scope `upload` (the recipient: `release:ack`)."),
        request=SignedInputSerializer,
        responses={201: StatementSerializer, 400: E400, 401: E401, 403: E403, 404: E404,
                   409: OpenApiResponse(ErrorSerializer, description="already_signed, "
                                        "replayed")})
    def post(self, request, plan_id: int):
        plan = self.plan_as_party(plan_id)
        statement = _statement_of(plan)
        statement_sign(statement=statement, **self.signed_submission(request, plan))
        return Response(StatementSerializer(_statement_data(statement, plan)).data,
                        status=status.HTTP_201_CREATED)
