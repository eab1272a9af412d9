"""The operator API (OAuth2 client credentials). Views speak HTTP only: they find what the
caller may see with a selector (`…_get_for(operator=…)`, else 404), call one service or
selector, and shape the answer with a serializer (transfers.serializers), so the OpenAPI
schema types every body. Refusals become JSON in one place (transfers.errors). GETs write
nothing but the audit and access logs. Every authenticated call is recorded as an audit event
(actor ``operator:<CODE>``).

One module per resource: `base` (OperatorApi, shared responses and parameters), `plans`,
`uploads`, `releases`, `submissions` (acknowledgements, apply reports, corrections),
`deletions`, `notices`. The views are re-exported here for `transfers.urls`."""

from transfers.apis.base import OperatorApi, api_not_found
from transfers.apis.deletions import DeletionConfirmApi, DeletionFeedApi
from transfers.apis.notices import NoticeAttestationApi, NoticesUnreachedApi
from transfers.apis.plans import PlanDetailApi, PlanListApi, ServiceKeyApi
from transfers.apis.releases import (
    ReleaseChunkApi,
    ReleaseChunkFileApi,
    ReleaseDetailApi,
    ReleaseListApi,
    ReleaseManifestApi,
    ReleaseRecordsApi,
    ReleaseSignatureApi,
)
from transfers.apis.submissions import AcknowledgementApi, ApplyReportApi, CorrectionsApi
from transfers.apis.uploads import BatchApi, UploadCompleteApi, UploadCreateApi, UploadDetailApi

__all__ = [
    "AcknowledgementApi", "ApplyReportApi", "BatchApi", "CorrectionsApi", "DeletionConfirmApi",
    "DeletionFeedApi", "NoticeAttestationApi", "NoticesUnreachedApi", "OperatorApi",
    "PlanDetailApi", "PlanListApi", "ReleaseChunkApi", "ReleaseChunkFileApi",
    "ReleaseDetailApi", "ReleaseListApi", "ReleaseManifestApi", "ReleaseRecordsApi",
    "ReleaseSignatureApi", "ServiceKeyApi", "UploadCompleteApi", "UploadCreateApi",
    "UploadDetailApi", "api_not_found",
]
