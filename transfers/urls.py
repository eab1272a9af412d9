from django.urls import path, re_path

from transfers import apis

app_name = "transfers"

urlpatterns = [
    path("service-key", apis.ServiceKeyApi.as_view(), name="service-key"),
    path("plans", apis.PlanListApi.as_view(), name="plans"),
    path("plans/<int:plan_id>", apis.PlanDetailApi.as_view(), name="plan"),
    path("plans/<int:plan_id>/uploads", apis.UploadCreateApi.as_view(), name="upload-create"),
    path("plans/<int:plan_id>/releases", apis.ReleaseListApi.as_view(), name="releases"),
    path("plans/<int:plan_id>/deletions", apis.DeletionFeedApi.as_view(), name="deletions"),
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
    re_path(r"^releases/(?P<release_id>[0-9a-f-]{36})/(?P<file>manifest\.json|manifest\.sig|"
            r"chunks/\d{6}\.bin)$", apis.ReleaseFileApi.as_view(), name="release-file"),
    path("deletions/<int:notice_id>/confirm", apis.DeletionConfirmApi.as_view(),
         name="deletion-confirm"),
]
