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


register_converter(DatabaseIdConverter, "dbid")

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
    re_path(rf"^releases/(?P<release_id>{UUID})/(?P<file>manifest\.json|manifest\.sig|"
            r"chunks/[0-9]{6}\.bin)$", apis.ReleaseFileApi.as_view(), name="release-file"),
    path("deletions/<dbid:notice_id>/confirm", apis.DeletionConfirmApi.as_view(),
         name="deletion-confirm"),
]
