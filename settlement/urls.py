"""The settlement endpoints of the operator API (under /api/, before its JSON 404)."""

from django.urls import path

from settlement import apis
from transfers import urls as transfers_urls  # noqa: F401 - registers the dbid converter

app_name = "settlement_api"

urlpatterns = [
    path("plans/<dbid:plan_id>/refunds", apis.RefundListApi.as_view(), name="refunds"),
    path("plans/<dbid:plan_id>/refunds/<uuid:case_id>/confirmation",
         apis.RefundConfirmationApi.as_view(), name="refund-confirmation"),
    path("plans/<dbid:plan_id>/declarations", apis.DeclarationsApi.as_view(),
         name="declarations"),
    path("plans/<dbid:plan_id>/balance-lists", apis.BalanceListsApi.as_view(),
         name="balance-lists"),
    path("plans/<dbid:plan_id>/balance-lists/<uuid:list_id>/body",
         apis.BalanceListBodyApi.as_view(), name="balance-list-body"),
    path("plans/<dbid:plan_id>/balance-lists/<uuid:list_id>/differences",
         apis.BalanceDifferencesApi.as_view(), name="balance-list-differences"),
    path("plans/<dbid:plan_id>/statement", apis.StatementApi.as_view(), name="statement"),
    path("plans/<dbid:plan_id>/statement/signatures", apis.StatementSignatureApi.as_view(),
         name="statement-signatures"),
    path("plans/<dbid:plan_id>/reconciliation", apis.ReconciliationApi.as_view(),
         name="reconciliation"),
]
