from django.urls import path, re_path, register_converter

from transfers import apis


class DatabaseIdConverter:
    """A plan or notice id: 1-18 ASCII digits, so it always fits the database's 64-bit ids
    (Django's `int` converter takes any length, and 2**64 fails inside the database)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


class ChunkNumberConverter:
    """A chunk's 1-based position: 1-6 ASCII digits (a release has at most 999,999 chunks)."""

    regex = "[0-9]{1,6}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(DatabaseIdConverter, "dbid")
register_converter(ChunkNumberConverter, "chunk")

app_name = "transfers"

# The canonical form of a UUID, as `<uuid:…>` matches it.
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

urlpatterns = [
    path("service-key", apis.ServiceKeyApi.as_view(), name="service-key"),
    path("plans", apis.PlanListApi.as_view(), name="plans"),
    path("plans/<dbid:plan_id>", apis.PlanDetailApi.as_view(), name="plan"),
    path("plans/<dbid:plan_id>/uploads", apis.UploadCreateApi.as_view(), name="upload-create"),
    path("plans/<dbid:plan_id>/releases", apis.ReleaseListApi.as_view(), name="releases"),
    path("plans/<dbid:plan_id>/deletions", apis.DeletionFeedApi.as_view(), name="deletions"),
    path("plans/<dbid:plan_id>/notices", apis.NoticesUnreachedApi.as_view(),
         name="notices-unreached"),
    path("plans/<dbid:plan_id>/corrections", apis.CorrectionsApi.as_view(),
         name="corrections"),
    path("plans/<dbid:plan_id>/notice-attestations", apis.NoticeAttestationApi.as_view(),
         name="notice-attestations"),
    path("uploads/<uuid:upload_id>", apis.UploadDetailApi.as_view(), name="upload"),
    path("uploads/<uuid:upload_id>/complete", apis.UploadCompleteApi.as_view(),
         name="upload-complete"),
    path("uploads/<uuid:upload_id>/batches/<str:batch_id>", apis.BatchApi.as_view(),
         name="batch"),
    path("releases/<uuid:release_id>", apis.ReleaseDetailApi.as_view(), name="release"),
    path("releases/<uuid:release_id>/records", apis.ReleaseRecordsApi.as_view(),
         name="release-records"),
    path("releases/<uuid:release_id>/acknowledgements", apis.AcknowledgementApi.as_view(),
         name="release-ack"),
    path("releases/<uuid:release_id>/apply-reports", apis.ApplyReportApi.as_view(),
         name="release-apply-report"),
    path("releases/<uuid:release_id>/manifest.json", apis.ReleaseManifestApi.as_view(),
         name="release-manifest"),
    path("releases/<uuid:release_id>/manifest.sig", apis.ReleaseSignatureApi.as_view(),
         name="release-signature"),
    path("releases/<uuid:release_id>/chunks/<chunk:n>", apis.ReleaseChunkApi.as_view(),
         name="release-chunk"),
    # The manifest's own file names (chunks/000001.bin), for readers that follow `file`.
    re_path(rf"^releases/(?P<release_id>{UUID})/chunks/(?P<name>[0-9]{{6}})\.bin$",
            apis.ReleaseChunkFileApi.as_view(), name="release-chunk-file"),
    path("deletions/<dbid:notice_id>/confirm", apis.DeletionConfirmApi.as_view(),
         name="deletion-confirm"),
]
