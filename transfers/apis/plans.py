"""The service key and the plans an operator takes part in."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.signing import service_key_id, service_public_key_b64
from governance.models import TransferPlan
from governance.selectors import plan_rules
from transfers.apis.base import E401, E404, OperatorApi, found
from transfers.errors import operator_api_exception_handler
from transfers.selectors import plan_get_for, plans_visible_to
from transfers.serializers import PlanListSerializer, PlanSerializer, ServiceKeySerializer


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
        plan = found(plan_get_for(operator=self.operator, plan_id=plan_id), "plan")
        return Response(self.OutputSerializer(_plan_data(plan, self.operator)).data)
