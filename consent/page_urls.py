"""URLs of the merchant consent page (see consent/views/)."""

from django.urls import path, re_path

from consent import views

urlpatterns = [
    # The way back in without a link: phone number, one-time code, choice of request.
    path("c/", views.return_start, name="return_start"),
    re_path(r"^c$", views.return_start),
    path("c/code", views.return_code, name="return_code"),
    path("c/choose", views.return_choose, name="return_choose"),
    # The public key that signs receipts (docs/consent-page.md, "Receipts").
    path("c/receipt-key", views.receipt_key, name="receipt_key"),
    path("c/text-size", views.text_size, name="text_size"),
    path("c/notice/<str:text_hash>", views.notice_text, name="notice_text"),
    path("c/<str:token>", views.landing, name="landing"),
    path("c/<str:token>/notice", views.notice, name="notice"),
    path("c/<str:token>/confirm", views.confirm, name="confirm"),
    path("c/<str:token>/status", views.status, name="status"),
    path("c/<str:token>/withdraw", views.withdraw, name="withdraw"),
    path("c/<str:token>/object", views.object_transfer, name="object"),
    path("c/<str:token>/early", views.early, name="early"),
    path("c/<str:token>/early/withdraw", views.early_withdraw, name="early_withdraw"),
    path("c/<str:token>/receipt/<uuid:receipt_id>.json", views.receipt_download,
         name="receipt_download"),
    path("c/<str:token>/receipt/<uuid:receipt_id>", views.receipt, name="receipt"),
    # Anything else under /c/ (a truncated or mangled link): the same bad-link page.
    re_path(r"^c(?:/.*)?$", views.bad_link, name="bad_link"),
]
